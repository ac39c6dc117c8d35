/**
 * For tests only: builds a small MaxMind database with Debian's libmaxmind-db-writer-perl
 * (MaxMind's own writer), so the resolver is tested against a real file, never a committed blob.
 */
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';

/** One network of the test database and its City-format record. */
export interface TestNetwork {
  cidr: string;
  record: {
    location?: { latitude: number; longitude: number };
    country?: { iso_code: string };
    city?: { names: { en: string } };
    is_anonymous_vpn?: boolean;
  };
}

// Every key of a record needs its MaxMind type; the writer refuses a key it cannot type.
const WRITER = String.raw`
use strict; use warnings;
use JSON::PP; use MaxMind::DB::Writer::Tree;
my $spec = decode_json(do { local $/; <STDIN> });
my %types = (location => 'map', latitude => 'double', longitude => 'double', country => 'map', iso_code => 'utf8_string',
  city => 'map', names => 'map', en => 'utf8_string', is_anonymous_vpn => 'boolean');
my $tree = MaxMind::DB::Writer::Tree->new(ip_version => 6, record_size => 28, database_type => 'Verity-Test-City',
  languages => ['en'], description => { en => 'Verity test database' }, remove_reserved_networks => 0,
  map_key_type_callback => sub { $types{$_[0]} });
for my $network (@{ $spec->{networks} }) {
  my $record = $network->{record};
  $record->{is_anonymous_vpn} = $record->{is_anonymous_vpn} ? 1 : 0 if exists $record->{is_anonymous_vpn};
  $tree->insert_network($network->{cidr}, $record);
}
open(my $out, '>:raw', $ARGV[0]) or die "cannot write $ARGV[0]: $!";
$tree->write_tree($out);
close($out) or die "cannot close $ARGV[0]: $!";
`;

/** Write a MaxMind database holding `networks` to `path` (IPv4 networks also answer as IPv4-mapped IPv6). */
export async function buildTestMmdb(path: string, networks: readonly TestNetwork[]): Promise<void> {
  const child = promisify(execFile)('perl', ['-e', WRITER, path], { timeout: 60_000 });
  child.child.stdin?.end(JSON.stringify({ networks }));
  await child;
}
