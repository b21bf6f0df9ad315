// Runs inside a test's network namespace (ip netns exec): one tick of address changes through
// RtNetlink against the real kernel, with two bad ones in the middle. Prints JSON.
import { RtNetlink } from "../../../lib/netlink/rtnetlink";
import { PURELB_ADDR_PROTO } from "../../../lib/netlink/messages";

const COUNT = 300;
const BAD_INDEX = 150;
const BAD_PREFIX = 200;

async function main(): Promise<void> {
  const nl = new RtNetlink();
  const v0 = (await nl.links()).find(l => l.name === "v0");
  if (!v0) throw new Error("no v0 in this namespace");
  const specs = Array.from({ length: COUNT }, (_, i) => ({
    ifindex: i === BAD_INDEX ? 99_999 : v0.index,
    address: `2001:db8::2:${i.toString(16)}`,
    prefix: i === BAD_PREFIX ? 129 : 64,
    validLft: 300,
    preferredLft: 300,
    nodad: true,
  }));
  const added = await Promise.allSettled(specs.map(s => nl.addAddress(s)));
  const ours = (await nl.addresses()).filter(a => a.proto === PURELB_ADDR_PROTO);
  const removed = await Promise.allSettled(
    [...specs, { ...specs[0], address: "2001:db8::3:1" }].map(s =>
      nl.deleteAddress(v0.index, s.address, 64),
    ),
  );
  const left = (await nl.addresses()).filter(a => a.proto === PURELB_ADDR_PROTO);
  nl.close();
  const failures = (r: PromiseSettledResult<void>[]) =>
    r.flatMap((x, i) => (x.status === "rejected" ? [{ i, err: String(x.reason) }] : []));
  console.log(
    JSON.stringify({
      addFailures: failures(added),
      held: ours.length,
      lifetimes: [...new Set(ours.map(a => a.validLft <= 300 && a.validLft > 290))],
      removeFailures: failures(removed),
      left: left.length,
    }),
  );
}

main().catch(err => {
  console.error(err);
  process.exit(1);
});
