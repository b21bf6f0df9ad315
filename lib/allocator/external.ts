import { Failure, fail } from "../ipam/failure";
import { GroupModel } from "../ipam/group";

/**
 * This PureLB accepts spec.external (so that a Go PureLB v0.17 ServiceGroup applies unchanged)
 * but has no client for the sidecar's gRPC contract yet: every Service of such a group gets this
 * failure as an AllocationFailed Event rather than waiting in silence.
 */
export const externalUnsupported = (group: GroupModel): Failure =>
  // invalid-group, not external-ipam: nothing is down, so nothing is worth polling for
  fail(
    "invalid-group",
    `ServiceGroup ${group.name} asks the external IPAM provider ${group.external?.provider ?? ""} (socket ${group.external?.socket ?? ""}), and this PureLB cannot call external IPAM sidecars yet; use a local, remote or netbox ServiceGroup for this Service`,
  );
