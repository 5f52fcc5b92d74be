import t from 'tap';
import { residentIdCheckChar, usccCheckChar, vinCheckDigit } from '../../src/shared/identifiers.js';
import { createMerchant, importSims, residentId, simIccid, simRow, startSimStack, uscc } from './sims-support.js';

// DESIGN 6 identifiers at the API: valid ones pass validation, each kind of invalid one is a 422 naming the
// field (as a JSON path) and the reason — resident ID numbers (GB 11643), credit codes (GB 32100), ICCIDs
// (ITU-T E.118 + Luhn), VINs (ISO 3779 / GB 16735).

const { svc } = await startSimStack(t);
const key = await createMerchant(svc, 'shop-i', 1);
// A card in inventory: a body that passes validation answers 409 INVALID_STATE (the state check comes after).
const [card] = await importSims(svc, 'shop-i', key, [1]);

const flip = (text: string, at: number, chars: string) => text.slice(0, at) + chars.split('').find((c) => c !== text[at])! + text.slice(at + 1);

// GB 11643's own example (check character X), and numbers built with their check character.
const RESIDENT_VALID = ['11010519491231002X', residentId(1), residentId(2, '20000229'), residentId(3, '19000101', '650102')];
const RESIDENT_INVALID: Array<[string, string, RegExp]> = [
  ['wrong check character', flip('11010519491231002X', 17, '0123456789'), /check character should be 'X'/],
  ['impossible birth date (30 Feb)', (() => { const f = '110105' + '19900230' + '123'; return f + residentIdCheckChar(f); })(), /birth date 19900230 is not a valid date/],
  ['impossible birth date (29 Feb 1900)', (() => { const f = '110105' + '19000229' + '123'; return f + residentIdCheckChar(f); })(), /not a valid date/],
  ['birth date in the future', (() => { const f = '110105' + '20991231' + '123'; return f + residentIdCheckChar(f); })(), /in the future/],
  ['a letter inside', '1101051949123A002X', /character 'A' is not allowed \(position 14\)/],
  ['lowercase x', '11010519491231002x', /uppercase 'X'/],
  ['17 characters', '11010519491231002', /must be 18 characters, got 17/],
  ['15 characters (the retired first-generation form)', '110105491231002', /must be 18 characters, got 15/],
];

// GB 32100's annex example, a catalog sponsor's code, and a generated one.
const USCC_VALID = ['91350100M000100Y43', '91310000MA1FL5LQ3E', uscc(42)];
const USCC_INVALID: Array<[string, string, RegExp]> = [
  ['wrong check character', flip('91350100M000100Y43', 17, '0123456789ABC'), /check character should be '3'/],
  ['forbidden letter I', '91350100M0001I0Y43', /letter 'I' is not allowed/],
  ['forbidden letter O', '9135010OM000100Y43', /letter 'O' is not allowed/],
  ['forbidden letters S, V, Z', '91350100S000100Y43', /letter 'S' is not allowed/],
  ['lowercase', '91350100m000100Y43', /uppercase/],
  ['wrong length', '91350100M000100Y4', /must be 18 characters, got 17/],
];

const individual = (idNumber: string) => ({ type: 'individual', name: '张三', idNumber, livenessToken: 'pass' });
const enterprise = (code: string, agentId = residentId(9)) => ({ type: 'enterprise', name: '某某有限公司', uscc: code, agent: { name: '李四', idNumber: agentId } });

t.test('resident ID numbers (GB 11643)', async (t) => {
  for (const valid of RESIDENT_VALID) {
    const response = await svc.request('POST', `/v1/sims/${card}/real-name`, { token: key, body: individual(valid) });
    t.equal(response.status, 409, `${valid} passes validation`);
    t.equal(response.body.error.code, 'INVALID_STATE');
  }
  for (const [name, value, reason] of RESIDENT_INVALID) {
    const response = await svc.request('POST', `/v1/sims/${card}/real-name`, { token: key, body: individual(value) });
    t.equal(response.status, 422, `${name}: 422`);
    t.equal(response.body.error.field, 'idNumber', `${name}: field`);
    t.match(response.body.error.message, reason, `${name}: reason`);
    const agent = await svc.request('POST', `/v1/sims/${card}/real-name`, { token: key, body: enterprise(uscc(1), value) });
    t.equal(agent.body.error.field, 'agent.idNumber', `${name}: an agent's number is checked the same way`);
  }
});

t.test('unified social credit codes (GB 32100)', async (t) => {
  for (const valid of USCC_VALID) {
    t.equal(usccCheckChar(valid.slice(0, 17)), valid[17]);
    const response = await svc.request('POST', `/v1/sims/${card}/real-name`, { token: key, body: enterprise(valid) });
    t.equal(response.status, 409, `${valid} passes validation`);
  }
  for (const [name, value, reason] of USCC_INVALID) {
    const response = await svc.request('POST', `/v1/sims/${card}/real-name`, { token: key, body: enterprise(value) });
    t.equal(response.status, 422, `${name}: 422`);
    t.equal(response.body.error.field, 'uscc', `${name}: field`);
    t.match(response.body.error.message, reason, `${name}: reason`);
    const merchant = await svc.request('POST', '/v1/merchants', { body: { id: 'shop-x', name: 'X', taxId: value } });
    t.equal(merchant.body.error.field, 'taxId', `${name}: a merchant's tax id too`);
  }
});

t.test('ICCIDs (ITU-T E.118) in an import and in paths', async (t) => {
  const good = simIccid(77);
  const rows = [
    { ...simRow(77), iccid: good },
    { ...simRow(78), iccid: flip(simIccid(78), 19, '0123456789') },
    { ...simRow(79), iccid: '1234567890123456789' },
    { ...simRow(80), iccid: simIccid(80).slice(0, 18) },
    { ...simRow(81), iccid: '89860B1234567890abc' },
    { ...simRow(82), iccid: '89860B1234567890ABC' },
  ];
  const response = await svc.request('POST', '/v1/merchants/shop-i/sims', { token: key, body: { sims: rows } });
  t.equal(response.status, 422);
  t.same(
    response.body.rejected.map((r: { field: string; reason: string }) => [r.field, r.reason.replace(/'.'/g, "'?'")]),
    [
      ['sims.1.iccid', "Luhn check digit should be '?', got '?'"],
      ['sims.2.iccid', "must start with '89', got '12'"],
      ['sims.3.iccid', 'must be 19 or 20 characters, got 18'],
      ['sims.4.iccid', 'hex digits must be uppercase A-F'],
    ],
    'each bad ICCID with its reason; the hex one without Luhn is valid',
  );
  const path = await svc.request('GET', `/v1/sims/${flip(good, 19, '0123456789')}`, { token: key });
  t.equal(path.status, 422);
  t.match(path.body.error.field, /^(params\.)?iccid$/);
});

t.test('VINs (ISO 3779, GB 16735) in the owner-change path', async (t) => {
  const draft = 'LSVAU2180N2000123';
  const vin = draft.slice(0, 8) + vinCheckDigit(draft) + draft.slice(9);
  const unknown = await svc.request('POST', `/v1/vehicles/${vin}/owner-change`);
  t.equal(unknown.status, 404, 'a valid VIN of no vehicle');
  for (const [name, bad, reason] of [
    ['wrong check digit', flip(vin, 8, '0123456789X'), /check digit \(position 9\)/],
    ['letter O', vin.slice(0, 3) + 'O' + vin.slice(4), /letter 'O' is not allowed/],
    ['wrong length', vin.slice(0, 16), /must be 17 characters/],
  ] as const) {
    const response = await svc.request('POST', `/v1/vehicles/${bad}/owner-change`);
    t.equal(response.status, 422, `${name}: 422`);
    t.match(response.body.error.field, /^(params\.)?vin$/);
    t.match(response.body.error.message, reason);
  }
});
