/**
 * Read a Prometheus text exposition (format 0.0.4, what `GET /metrics` answers) strictly: every
 * line is a `# HELP`, a `# TYPE` or a sample `name{label="value",…} number`, every sample belongs
 * to the family its `# TYPE` declared (histograms: `_bucket`, `_sum`, `_count`), and a line that
 * is none of these fails the parse. Values are read as Prometheus reads them (Go's ParseFloat:
 * `NaN`, `Nan`, `+Inf`). (The npm parser tried first, parse-prometheus-text-format,
 * drops the labels of labelled histograms.)
 */

export interface Sample {
  /** The sample's own name (`x_bucket`, `x_count`, … for a histogram). */
  name: string;
  labels: Record<string, string>;
  value: number;
}

export interface MetricFamily {
  name: string;
  help: string;
  type: 'counter' | 'gauge' | 'histogram' | 'summary' | 'untyped';
  samples: Sample[];
}

export interface Scrape {
  families: Map<string, MetricFamily>;
  family(name: string): MetricFamily;
  /**
   * The value of the one sample of a counter or gauge with these labels (a subset), or a
   * histogram's `_count`; 0 when there is none.
   */
  value(name: string, labels?: Record<string, string>): number;
}

const SAMPLE = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (-?(?:[0-9.]+(?:e[+-]?[0-9]+)?|[+-]?[Ii]nf|[Nn]a[Nn]))(?: -?[0-9]+)?$/;
const LABEL = /([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"(?:,|$)/y;
const SUFFIXES: Record<MetricFamily['type'], string[]> = { counter: [''], gauge: [''], untyped: [''], histogram: ['_bucket', '_sum', '_count'], summary: ['', '_sum', '_count'] };

function parseLabels(text: string, line: string): Record<string, string> {
  const labels: Record<string, string> = {};
  LABEL.lastIndex = 0;
  while (LABEL.lastIndex < text.length) {
    const match = LABEL.exec(text);
    if (!match) throw new Error(`bad labels in: ${line}`);
    labels[match[1]!] = match[2]!.replace(/\\(.)/g, (_, c: string) => (c === 'n' ? '\n' : c));
  }
  return labels;
}

export function parseScrape(text: string): Scrape {
  const families = new Map<string, MetricFamily>();
  for (const line of text.split('\n')) {
    if (line === '') continue;
    const meta = /^# (HELP|TYPE) ([a-zA-Z_:][a-zA-Z0-9_:]*) (.*)$/.exec(line);
    if (meta) {
      const [, kind, name, rest] = meta as unknown as [string, string, string, string];
      const family = families.get(name) ?? { name, help: '', type: 'untyped' as const, samples: [] };
      if (kind === 'HELP') family.help = rest;
      else if (rest === 'counter' || rest === 'gauge' || rest === 'histogram' || rest === 'summary' || rest === 'untyped') family.type = rest;
      else throw new Error(`bad type in: ${line}`);
      families.set(name, family);
      continue;
    }
    const sample = SAMPLE.exec(line);
    if (!sample) throw new Error(`not an exposition line: ${line}`);
    const [, name, labelText, value] = sample as unknown as [string, string, string | undefined, string];
    const family = [...families.values()].find((f) => SUFFIXES[f.type].some((suffix) => f.name + suffix === name));
    if (!family) throw new Error(`a sample of no declared family: ${line}`);
    family.samples.push({ name, labels: labelText === undefined ? {} : parseLabels(labelText, line), value: /^[Nn]a[Nn]$/.test(value) ? Number.NaN : /inf$/i.test(value) ? (value.startsWith('-') ? -Infinity : Infinity) : Number(value) });
  }
  const family = (name: string): MetricFamily => {
    const found = families.get(name);
    if (!found) throw new Error(`no metric ${name} in the scrape`);
    return found;
  };
  return {
    families,
    family,
    value(name, labels = {}) {
      const f = family(name);
      const own = f.type === 'histogram' || f.type === 'summary' ? `${name}_count` : name;
      const matching = f.samples.filter((s) => s.name === own && Object.entries(labels).every(([k, v]) => s.labels[k] === v));
      if (matching.length > 1) throw new Error(`${matching.length} samples of ${name} match ${JSON.stringify(labels)}`);
      return matching[0]?.value ?? 0;
    },
  };
}
