import { z } from 'zod';

/** An alert rule as listed, with the state of its period triggered last. */
export const AlertRuleSchema = z.object({
  id: z.string().meta({ example: 'al_5f0c6e1d2a9b8c7d6e5f4a3b' }),
  kind: z.enum(['cap_share', 'mtd_amount', 'vehicles_at_cap', 'service_until_within']),
  sponsorshipId: z.string().nullable().meta({ description: 'cap_share and vehicles_at_cap: the sponsorship watched' }),
  percent: z.number().int().nullable().meta({ description: 'cap_share: the share of the fleet cap, 1..100' }),
  amount: z.string().nullable().meta({ description: 'mtd_amount: the month-to-date amount, tax-exclusive, catalog currency', example: '1000.00' }),
  count: z.number().int().nullable().meta({ description: 'vehicles_at_cap: vehicles at the cap' }),
  days: z.number().int().nullable().meta({ description: 'service_until_within: days before a card’s serviceUntil' }),
  createdAt: z.string(),
  state: z.enum(['ok', 'triggered', 'resolved']).meta({ description: 'ok: never triggered; else the state of the period triggered last (an open one first)' }),
  period: z.string().nullable().meta({ description: 'a billing month YYYY-MM (sponsor rules) or <iccid>/<serviceUntil date> (service_until_within)' }),
  triggeredAt: z.string().nullable(),
  triggeredValue: z.string().nullable().meta({ description: 'the measure when it triggered: percent with 2 decimals, amount, vehicles, or the serviceUntil instant' }),
  resolvedAt: z.string().nullable(),
  resolvedValue: z.string().nullable(),
  openPeriods: z.number().int().meta({ description: 'periods triggered and not yet resolved' }),
});
export type AlertRuleView = z.output<typeof AlertRuleSchema>;
