/** Severity of a threat event or an IoC, least to most severe: one scale for every service. */
export const SEVERITIES = ['low', 'medium', 'high', 'critical'] as const;
export type Severity = (typeof SEVERITIES)[number];
