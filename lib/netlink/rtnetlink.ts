import { createRequire } from "node:module";
import type * as NetlinkModule from "netlink";
import { Log } from "../log";
import {
  AddressSpec,
  KernelAddress,
  KernelLink,
  NLM_F,
  RTM,
  RTNLGRP,
  decodeAddress,
  decodeLink,
  encodeAddressDump,
  encodeCreateLink,
  encodeDelAddress,
  encodeLinkDump,
  encodeLinkUp,
  encodeNewAddress,
} from "./messages";

type NetlinkSocket = ReturnType<typeof NetlinkModule.createNetlink>;
type RawMessage = { type: number; data: Buffer };

/**
 * Native modules are required at run time, not imported: the Pepr build bundles every import
 * into one file, where a prebuilt binary can no longer be found. The agent image keeps them
 * in node_modules next to the bundle.
 */
export const nativeRequire = createRequire(
  typeof __filename === "string" ? __filename : import.meta.url,
);

/** How many requests may wait for the kernel at once; more can overflow the receive buffer. */
const MAX_IN_FLIGHT = 64;
/** A large receive buffer: the package aborts the process if the kernel overruns it. */
const BUFFERS = { recvBufferSize: 4 << 20, sendBufferSize: 1 << 20 };
const REQUEST_TIMEOUT_MS = 5_000;

export class KernelError extends Error {
  constructor(
    readonly op: string,
    message: string,
  ) {
    super(`${op}: ${message}`);
  }
}

/**
 * rtnetlink over the `netlink` package: dumps of links and addresses, address changes, and
 * change notifications. A socket error (such as a receive buffer overrun) closes the socket;
 * the next call opens a fresh one and `onResync` tells the owner to re-read everything.
 */
export class RtNetlink {
  /** Changes (many in flight) and dumps (one at a time) use separate sockets: the package
   * assembles one multipart answer per socket, and an ACK arriving in the middle of a dump
   * would cut it short. */
  private readonly socks: { change?: NetlinkSocket; dump?: NetlinkSocket } = {};
  private dumpChain: Promise<unknown> = Promise.resolve();
  private notify?: NetlinkSocket;
  private inFlight = 0;
  private readonly waiting: (() => void)[] = [];
  private readonly nl: typeof NetlinkModule;
  private closed = false;

  constructor(
    private readonly onChange: () => void = () => {},
    private readonly onResync: () => void = () => {},
  ) {
    this.nl = nativeRequire("netlink") as typeof NetlinkModule;
  }

  /** Subscribes to link and address changes; `onChange` runs for each batch. */
  listen(): void {
    if (this.notify || this.closed) return;
    const s = this.nl.createNetlink(this.nl.Protocol.ROUTE, { ref: false, ...BUFFERS });
    for (const g of [RTNLGRP.LINK, RTNLGRP.IPV4_IFADDR, RTNLGRP.IPV6_IFADDR])
      s.socket.addMembership(g);
    s.on("message", () => this.onChange());
    s.on("error", err => {
      Log.warn(
        { err: String(err) },
        "netlink notification socket failed; reopening and re-reading",
      );
      try {
        s.close();
      } catch {
        /* already closed */
      }
      this.notify = undefined;
      setTimeout(() => {
        this.listen();
        this.onResync();
      }, 100).unref();
    });
    this.notify = s;
  }

  close(): void {
    this.closed = true;
    for (const s of [this.socks.change, this.socks.dump, this.notify]) {
      try {
        s?.close();
      } catch {
        /* already closed */
      }
    }
    this.socks.change = this.socks.dump = this.notify = undefined;
  }

  async links(): Promise<KernelLink[]> {
    const msgs = await this.request("links", RTM.GETLINK, encodeLinkDump(), NLM_F.DUMP);
    return msgs.filter(m => m.type === RTM.NEWLINK).flatMap(m => decodeLink(m.data) ?? []);
  }

  async addresses(): Promise<KernelAddress[]> {
    const msgs = await this.request("addresses", RTM.GETADDR, encodeAddressDump(), NLM_F.DUMP);
    return msgs.filter(m => m.type === RTM.NEWADDR).flatMap(m => decodeAddress(m.data) ?? []);
  }

  /** Adds the address, or updates its lifetimes and flags when it is already there. */
  async addAddress(spec: AddressSpec): Promise<void> {
    await this.request(
      `add ${spec.address}/${spec.prefix}`,
      RTM.NEWADDR,
      encodeNewAddress(spec),
      NLM_F.CREATE | NLM_F.REPLACE,
    );
  }

  async deleteAddress(ifindex: number, address: string, prefix: number): Promise<void> {
    try {
      await this.request(
        `delete ${address}/${prefix}`,
        RTM.DELADDR,
        encodeDelAddress(ifindex, address, prefix),
        0,
      );
    } catch (err) {
      // Gone already (expired, or removed with its link): that is what we wanted.
      if (/EADDRNOTAVAIL|ENODEV|ESRCH/.test(String(err))) return;
      throw err;
    }
  }

  async createLink(name: string, kind: string): Promise<void> {
    await this.request(
      `create ${kind} link ${name}`,
      RTM.NEWLINK,
      encodeCreateLink(name, kind),
      NLM_F.CREATE | NLM_F.EXCL,
    );
  }

  async setLinkUp(index: number): Promise<void> {
    await this.request(`set link ${index} up`, RTM.NEWLINK, encodeLinkUp(index), 0);
  }

  private socket(which: "change" | "dump"): NetlinkSocket {
    if (this.closed) throw new KernelError("netlink", "socket closed");
    if (!this.socks[which]) {
      const s = this.nl.createNetlink(this.nl.Protocol.ROUTE, { ...BUFFERS });
      s.on("error", err => {
        Log.warn({ err: String(err) }, "netlink socket failed; opening a new one and re-reading");
        if (this.socks[which] === s) this.socks[which] = undefined;
        try {
          s.close();
        } catch {
          /* already closed */
        }
        this.onResync();
      });
      this.socks[which] = s;
    }
    return this.socks[which];
  }

  private request(op: string, type: number, body: Buffer, flags: number): Promise<RawMessage[]> {
    if ((flags & NLM_F.DUMP) !== NLM_F.DUMP) return this.send("change", op, type, body, flags);
    const next = this.dumpChain.then(() => this.send("dump", op, type, body, flags));
    this.dumpChain = next.catch(() => {});
    return next;
  }

  private async send(
    which: "change" | "dump",
    op: string,
    type: number,
    body: Buffer,
    flags: number,
  ): Promise<RawMessage[]> {
    if (this.inFlight >= MAX_IN_FLIGHT) await new Promise<void>(r => this.waiting.push(r));
    this.inFlight++;
    try {
      const [msgs] = await this.socket(which).request(type, body, {
        flags,
        timeout: REQUEST_TIMEOUT_MS,
      });
      return msgs as RawMessage[];
    } catch (err) {
      const text =
        err instanceof Error ? err.message.replace(/^Request rejected: /, "") : String(err);
      if (/Timeout/.test(text)) {
        // A lost answer means the socket state is unknown: start over with a new one.
        this.socks[which]?.close();
        this.socks[which] = undefined;
        this.onResync();
      }
      throw new KernelError(op, text);
    } finally {
      this.inFlight--;
      this.waiting.shift()?.();
    }
  }
}
