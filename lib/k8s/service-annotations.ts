import { Address, Family, familyName, parseAddress } from "../ip/address";
import { Problem } from "../ipam/problem";
import { Annotation } from "./annotations";

/** What a user asked for through purelb.io annotations, parsed. */
export interface ServiceRequest {
  group?: string;
  requested: Map<Family, Address>;
  sharingKey?: string;
  multiPool?: boolean;
  reEvaluate: boolean;
}

const BOOLEAN = /^(true|false)$/i;
const DNS_LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;

/**
 * Parses the user-set annotations. Shared by admission (which rejects) and the allocator
 * (which reports an Event when a Service slipped in before the webhook existed).
 */
export function parseServiceAnnotations(ann: Record<string, string | undefined>): {
  request: ServiceRequest;
  problems: Problem[];
} {
  const problems: Problem[] = [];
  const request: ServiceRequest = { requested: new Map(), reEvaluate: false };
  const at = (k: string) => `metadata.annotations["${k}"]`;

  const group = ann[Annotation.serviceGroup];
  if (group !== undefined) {
    if (!DNS_LABEL.test(group) && !isDnsSubdomain(group)) {
      problems.push({
        path: at(Annotation.serviceGroup),
        message: `"${group}" is not a ServiceGroup name (lowercase letters, digits, '-' and '.')`,
      });
    } else request.group = group;
  }

  const addrs = ann[Annotation.addresses];
  if (addrs !== undefined) {
    for (const part of addrs.split(",").map(s => s.trim())) {
      const a = parseAddress(part);
      if (!a) {
        problems.push({
          path: at(Annotation.addresses),
          message: `"${part}" is not an IP address; give one IPv4 and/or one IPv6 address, comma-separated`,
        });
      } else if (request.requested.has(a.family)) {
        problems.push({
          path: at(Annotation.addresses),
          message: `has more than one ${familyName(a.family)} address; give at most one per family`,
        });
      } else request.requested.set(a.family, a);
    }
  }

  const key = ann[Annotation.allowSharedIP];
  if (key !== undefined) {
    if (key.trim() === "" || key.length > 253) {
      problems.push({
        path: at(Annotation.allowSharedIP),
        message:
          "must be a non-empty sharing key (at most 253 characters) that the sharing Services have in common",
      });
    } else request.sharingKey = key;
  }

  const multi = ann[Annotation.multiPool];
  if (multi !== undefined) {
    if (!BOOLEAN.test(multi))
      problems.push({
        path: at(Annotation.multiPool),
        message: `"${multi}" must be "true" or "false"`,
      });
    else request.multiPool = multi.toLowerCase() === "true";
  }

  const reEval = ann[Annotation.reEvaluate];
  if (reEval !== undefined) {
    if (!BOOLEAN.test(reEval))
      problems.push({
        path: at(Annotation.reEvaluate),
        message: `"${reEval}" must be "true" or "false"`,
      });
    else request.reEvaluate = reEval.toLowerCase() === "true";
  }
  return { request, problems };
}

function isDnsSubdomain(s: string): boolean {
  return s.length <= 253 && s.split(".").every(l => DNS_LABEL.test(l));
}
