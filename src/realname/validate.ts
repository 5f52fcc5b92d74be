import { z } from 'zod';
import { UsccSchema } from '../api/schemas.js';
import { checkResidentId, type CalendarDate } from '../shared/identifiers.js';

/**
 * The real-name submission of DESIGN 6 as one zod schema, so a bad identifier is a 422 naming its JSON path
 * (`idNumber`, `uscc`, `agent.idNumber`):
 * - individual: name, resident ID number (GB 11643-1999: area code, a real birth date not in the future,
 *   sequence, ISO 7064 MOD 11-2 check character) and the provider's liveness token;
 * - enterprise: name, unified social credit code (GB 32100-2015: 18 characters without I, O, S, V, Z,
 *   weighted mod-31 check character) and the agent's name and resident ID number.
 * `role` is `holder` (the card's responsible subject) unless `owner` (a vehicle card's user, MIIT notice
 * 2021-246). `today` is read when a request is validated (the billing-timezone date of the service clock).
 */

/** A person's name: letters (any script), combining marks, the middle dot of minority names, spaces, `.-'`. */
const PERSON_NAME = /^[\p{L}\p{M}·•.'\- ]+$/u;

const personName = z
  .string()
  .trim()
  .min(1)
  .max(64)
  .regex(PERSON_NAME, { message: 'must be a name: letters, spaces and · . - \' only' });

const enterpriseName = z
  .string()
  .trim()
  .min(1)
  .max(128)
  // eslint-disable-next-line no-control-regex
  .regex(/^[^\u0000-\u001f\u007f]+$/, { message: 'must not contain control characters' });

export function realNameBodySchema(today: () => CalendarDate) {
  const residentId = z
    .string()
    .max(32)
    .superRefine((value, ctx) => {
      const result = checkResidentId(value, today());
      if (!result.ok) ctx.addIssue({ code: 'custom', message: `not a valid GB 11643 resident ID number: ${result.reason}` });
    })
    .meta({ example: '11010519491231002X' });
  const role = z.enum(['holder', 'owner']).default('holder');
  return z.discriminatedUnion('type', [
    z.object({
      role,
      type: z.literal('individual'),
      name: personName,
      idNumber: residentId,
      livenessToken: z.string().min(1).max(512),
    }),
    z.object({
      role,
      type: z.literal('enterprise'),
      name: enterpriseName,
      uscc: UsccSchema,
      agent: z.object({ name: personName, idNumber: residentId }),
    }),
  ]);
}

export type RealNameSubmission = z.output<ReturnType<typeof realNameBodySchema>>;
