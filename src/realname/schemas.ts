import { z } from 'zod';

/**
 * A card's real-name subject (DESIGN 6) as the API shows it, masked or (through the audited reveal)
 * unmasked, as zod schemas; the subject store's types are their `z.output`.
 */

const AgentSchema = z.object({ name: z.string(), idNumber: z.string() });

/** A subject in a card's reply: personal data masked (`1101**********123X`, `张*三`). */
export const MaskedSubjectSchema = z.object({
  status: z.enum(['none', 'pending', 'verified', 'rejected', 'superseded']),
  type: z.enum(['individual', 'enterprise']).nullable(),
  name: z.string().nullable().meta({ description: 'masked' }),
  idNumber: z.string().nullable().meta({ description: 'masked: resident ID number, or the credit code of an enterprise' }),
  agent: AgentSchema.optional(),
  reason: z.string().optional(),
  submittedAt: z.string().optional(),
  verifiedAt: z.string().nullable().optional(),
});
export type MaskedSubject = z.output<typeof MaskedSubjectSchema>;

/** A subject in plaintext: the audited reveal only. */
export const UnmaskedSubjectSchema = z.object({
  id: z.string(),
  role: z.enum(['holder', 'owner']),
  type: z.enum(['individual', 'enterprise']),
  status: z.string(),
  name: z.string(),
  idNumber: z.string(),
  agent: AgentSchema.optional(),
});
export type UnmaskedSubject = z.output<typeof UnmaskedSubjectSchema>;
