/**
 * Limits of the MQTT protocol v1 (DESIGN 3) that more than one side enforces: written once here, read by
 * the embedded broker (which refuses a larger packet from its fixed header) and by the usage parser (an
 * external broker may not enforce it).
 */

/** DESIGN 3.0: a usage payload is at most 262,144 bytes. */
export const MAX_USAGE_PAYLOAD_BYTES = 262_144;
