/**
 * Node flags the agent process runs with: in the chart's DaemonSet (before the launcher), in
 * the benchmarks and in the netns tests. The agent's live heap is small (about 12 MB with
 * 1,000 Services), but V8's default sizing lets the heap grow to ~95 MB in the burst of API
 * traffic after a restart and keeps it: RSS 160 MB. Optimizing for size keeps the heap near
 * the live set (RSS ~80 MB) for a little more collector work. Not settable in NODE_OPTIONS.
 */
export const AGENT_NODE_FLAGS: readonly string[] = ["--optimize-for-size"];
