// scan.test.mjs - `sealpost scan` as a script sees it: exit 0 = would be
// sealed, 1 = would pass, 2 = error; explanations name the rule and mask
// the numbers they found.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { sealpost, tmpDir, makeMail } from '../lib/harness.mjs';

test('a [secure] subject would be sealed, and the rule is named', () => {
  const r = sealpost(['scan'], { input: makeMail({ subject: '[secure] your results' }) });
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stdout.toString(), /subject-keyword/);
});

test('an SSN in an attachment would be sealed, masked in the explanation', () => {
  const mail = makeMail({ attachments: [{ name: 'form.txt', type: 'text/plain', data: Buffer.from('Applicant SSN: 512-48-6780\n') }] });
  const r = sealpost(['scan'], { input: mail });
  assert.equal(r.status, 0, r.stderr);
  const out = r.stdout.toString();
  assert.ok(!out.includes('512-48-6780'), 'the number itself is not printed');
  assert.match(out, /\*\*\*-\*\*-6780/);
});

test('ordinary mail would pass (exit 1)', () => {
  const r = sealpost(['scan'], { input: makeMail({ subject: 'lunch at 6?', text: 'lunch at 6?\n' }) });
  assert.equal(r.status, 1, r.stdout.toString() + r.stderr);
});

test('the medical example is sealed, internal mail never', () => {
  const text = 'Please reserve room 6 for surgery for Michael Johnson.\n';
  const r = sealpost(['scan'], { input: makeMail({ subject: 'room', text }) });
  assert.equal(r.status, 0, r.stdout.toString());
  const cfg = path.join(tmpDir('sealpost-scan-'), 'policy.conf');
  fs.writeFileSync(cfg, 'internal_domains = clinic.example\n\n[rule kw]\ntype = keyword\nkeyword = [secure]\naction = seal\n');
  const i = sealpost(['-c', cfg, 'scan', '--rcpt', 'bob@clinic.example'], { input: makeMail({ subject: '[secure] x', to: 'bob@clinic.example' }) });
  assert.equal(i.status, 1, i.stdout.toString() + i.stderr);
});

test('a bad policy or an input that is not mail is an error (exit 2)', () => {
  const cfg = path.join(tmpDir('sealpost-scan-'), 'bad.conf');
  fs.writeFileSync(cfg, 'no_such_key = 1\n');
  const r = sealpost(['scan', '-c', cfg], { input: makeMail() });
  assert.equal(r.status, 2);
  assert.match(r.stderr, /bad\.conf:1/);
  const g = sealpost(['scan'], { input: Buffer.from('\x00\x01\x02 not a mail') });
  assert.equal(g.status, 2);
});
