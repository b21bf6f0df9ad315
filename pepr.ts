import cfg from "./package.json";

// One bundle, two roles: the node agent DaemonSet sets PURELB_MODE=agent. The imports are
// lazy so that agent mode never loads Pepr's admission and watch stack, which would double
// the memory of a process that runs on every node.
if (process.env.PURELB_MODE === "agent") {
  void import("./capabilities/nodeagent").then(m => m.startNodeAgent());
} else {
  // The allocator first: it starts listing Services while Pepr loads.
  void import("./lib/allocator/main");
  void Promise.all([
    import("pepr"),
    import("./capabilities/allocator"),
    import("./capabilities/validation"),
  ]).then(
    ([{ PeprModule }, { Allocator }, { Validation }]) =>
      new PeprModule(cfg, [Allocator, Validation]),
  );
}
