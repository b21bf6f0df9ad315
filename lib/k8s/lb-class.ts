/**
 * spec.loadBalancerClass values PureLB serves: the Go PureLB v2's (purelb.io/purelbv2) and the
 * one of its v1 and of our seeds (purelb.io/purelb), so Services written for either work.
 */
export const LB_CLASSES: readonly string[] = ["purelb.io/purelbv2", "purelb.io/purelb"];

/** The chart value, upstream's: "PureLB" serves Services without a class; anything else does not. */
export const DEFAULT_ANNOUNCER_ENV = "PURELB_DEFAULT_ANNOUNCER";
export const DEFAULT_ANNOUNCER = "PureLB";

/** Whether Services without a loadBalancerClass are PureLB's (unset: yes, as before). */
export const servesClassless = (env: NodeJS.ProcessEnv = process.env): boolean =>
  (env[DEFAULT_ANNOUNCER_ENV] ?? DEFAULT_ANNOUNCER) === DEFAULT_ANNOUNCER;

/** Whether PureLB serves a Service of this class (undefined: no class). */
export const servesClass = (cls: string | undefined, classless = servesClassless()): boolean =>
  cls === undefined ? classless : LB_CLASSES.includes(cls);
