/** Device certificates (issue 12, device trust): the chain a PEP's handshake presented, checked against a tenant's device CAs. */
import { describe, expect, it } from 'vitest';
import { deviceAuthoritiesProblem, verifyDeviceCertificate } from './x509-svid.js';
import { buildCert } from './test-helpers.js';

const NOW = Date.now();
const code = (run: () => unknown) => {
  try {
    run();
    return 'verified';
  } catch (error) {
    return (error as { code?: string }).code;
  }
};

describe('verifyDeviceCertificate', () => {
  it('names the device by the leaf\'s common name when it chains to a tenant authority (directly or through an intermediate)', async () => {
    const root = await buildCert({ ca: true, subject: 'CN=MDM Root, O=Acme' });
    const intermediate = await buildCert({ ca: true, issuer: root, subject: 'CN=MDM Issuing, O=Acme' });
    const direct = await buildCert({ issuer: root, subject: 'CN=laptop-1, O=Acme' });
    const through = await buildCert({ issuer: intermediate, subject: 'CN=phone-7, O=Acme' });
    expect(verifyDeviceCertificate([direct.pem], [root.pem], NOW)).toMatchObject({ deviceId: 'laptop-1' });
    expect(verifyDeviceCertificate([through.pem, intermediate.pem], [root.pem], NOW)).toMatchObject({ deviceId: 'phone-7' });
  });

  it('refuses what does not chain to the tenant\'s authorities, has expired, is a CA, or names no device', async () => {
    const root = await buildCert({ ca: true, subject: 'CN=MDM Root, O=Acme' });
    const stranger = await buildCert({ ca: true, subject: 'CN=MDM Root, O=Acme' });
    const forged = await buildCert({ issuer: stranger, subject: 'CN=laptop-1, O=Acme' });
    const expired = await buildCert({ issuer: root, subject: 'CN=laptop-1, O=Acme', notBefore: new Date(NOW - 7200_000), notAfter: new Date(NOW - 3600_000) });
    const ca = await buildCert({ ca: true, issuer: root, subject: 'CN=laptop-1, O=Acme' });
    const noCn = await buildCert({ issuer: root, subject: 'O=Acme' });
    const badCn = await buildCert({ issuer: root, subject: 'CN=not a device id, O=Acme' });
    const selfSigned = await buildCert({ subject: 'CN=laptop-1, O=Acme' });
    for (const chain of [[forged.pem], [expired.pem], [ca.pem], [noCn.pem], [badCn.pem], [selfSigned.pem], ['not a certificate'], []]) {
      expect(code(() => verifyDeviceCertificate(chain, [root.pem], NOW))).toBe('ERR_DEVICE_CERTIFICATE');
    }
  });

  it('takes only CA certificates, able to sign and in their validity period, as a tenant\'s authorities', async () => {
    const root = await buildCert({ ca: true, subject: 'CN=MDM Root' });
    const leaf = await buildCert({ issuer: root, subject: 'CN=laptop-1' });
    expect(deviceAuthoritiesProblem([root.pem])).toBeNull();
    expect(deviceAuthoritiesProblem([leaf.pem])).toMatch(/not a CA/);
    expect(deviceAuthoritiesProblem(['garbage'])).toMatch(/not one PEM/);
    expect(deviceAuthoritiesProblem([])).toMatch(/1 to 8/);
    const expired = await buildCert({ ca: true, subject: 'CN=Old Root', notBefore: new Date(NOW - 7200_000), notAfter: new Date(NOW - 3600_000) });
    const noSigning = await buildCert({ ca: true, subject: 'CN=No Signing', keyUsage: 0x80 });
    expect(deviceAuthoritiesProblem([expired.pem])).toMatch(/validity/);
    expect(deviceAuthoritiesProblem([noSigning.pem])).toMatch(/keyCertSign/);
  });
});
