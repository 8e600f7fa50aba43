import { z } from 'zod';

/** Where one notification of an incident stands, as incident.json and GET /api/incidents/:id show it. */
export const notificationStatusSchema = z.enum(['pending', 'retrying', 'delivered', 'failed']);
export type NotificationStatus = z.infer<typeof notificationStatusSchema>;

/** One target's notification of one incident. Field names are what the API returns. */
export const notificationOutcomeSchema = z.object({
  /** The notifier's name in tail2.yaml. */
  target: z.string(),
  status: notificationStatusSchema,
  /** Delivery attempts made so far. */
  attempts: z.number().optional(),
  /** Why the last attempt failed (retrying, failed), or what was delivered where. */
  detail: z.string().optional(),
  /** ISO time of the next attempt, while retrying. */
  next_attempt_at: z.string().optional(),
  /** ISO time it was delivered. */
  delivered_at: z.string().optional(),
  /** ISO time of the last change. */
  updated_at: z.string().optional(),
});
export type NotificationOutcome = z.infer<typeof notificationOutcomeSchema>;
