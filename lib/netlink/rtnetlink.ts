import { Log } from "../log";
import { runtimeRequire } from "../runtime-require";
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
import { NetlinkChannel, RawSocket } from "./channel";
import { NetlinkMessage } from "./framing";

type RawModule = { RawNetlinkSocket: new (protocol: number, options?: object) => NotifySocket };
type NotifySocket = RawSocket & { addMembership(group: number): void };

/** Only the package's socket layer: its index also loads generated structs for every
 * netlink family (about 1.4 MB of JavaScript) that PureLB does not use. */
const RAW_MODULE = "netlink/dist/raw";
const NETLINK_ROUTE = 0;
/** Requests unanswered at most: should all of them fail, each error takes ~1 KB of the
 * receive buffer. */
const MAX_IN_FLIGHT = 512;
const BATCH = 128;
/** A large receive buffer: an overrun loses answers and forces a full re-read. */
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
 * rtnetlink for the agent: dumps of links and addresses, address changes, and change
 * notifications. A socket error (such as a receive buffer overrun) or a lost answer closes
 * the socket; the next call opens a fresh one and `onResync` tells the owner to re-read.
 */
export class RtNetlink {
  private channel?: NetlinkChannel;
  /** The kernel runs one dump per socket at a time. */
  private dumpChain: Promise<unknown> = Promise.resolve();
  private notify?: NotifySocket;
  private readonly raw: RawModule;
  private closed = false;

  constructor(
    private readonly onChange: () => void = () => {},
    private readonly onResync: () => void = () => {},
  ) {
    this.raw = runtimeRequire(RAW_MODULE) as RawModule;
  }

  /** Subscribes to link and address changes; `onChange` runs for each batch. */
  listen(): void {
    if (this.notify || this.closed) return;
    const s = new this.raw.RawNetlinkSocket(NETLINK_ROUTE, BUFFERS);
    s.unref();
    for (const g of [RTNLGRP.LINK, RTNLGRP.IPV4_IFADDR, RTNLGRP.IPV6_IFADDR]) s.addMembership(g);
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
    this.channel?.close();
    try {
      this.notify?.close();
    } catch {
      /* already closed */
    }
    this.channel = this.notify = undefined;
  }

  async links(): Promise<KernelLink[]> {
    const msgs = await this.dump("links", RTM.GETLINK, encodeLinkDump());
    return msgs.filter(m => m.type === RTM.NEWLINK).flatMap(m => decodeLink(m.data) ?? []);
  }

  async addresses(): Promise<KernelAddress[]> {
    const msgs = await this.dump("addresses", RTM.GETADDR, encodeAddressDump());
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

  private dump(op: string, type: number, body: Buffer): Promise<NetlinkMessage[]> {
    const next = this.dumpChain.then(() => this.request(op, type, body, NLM_F.DUMP));
    this.dumpChain = next.catch(() => {});
    return next;
  }

  private async request(
    op: string,
    type: number,
    body: Buffer,
    flags: number,
  ): Promise<NetlinkMessage[]> {
    try {
      return await this.open().request(type, body, flags);
    } catch (err) {
      throw new KernelError(op, err instanceof Error ? err.message : String(err));
    }
  }

  private open(): NetlinkChannel {
    if (this.closed) throw new Error("netlink socket closed");
    if (!this.channel) {
      const channel: NetlinkChannel = new NetlinkChannel(
        new this.raw.RawNetlinkSocket(NETLINK_ROUTE, BUFFERS),
        {
          maxInFlight: MAX_IN_FLIGHT,
          batch: BATCH,
          timeoutMs: REQUEST_TIMEOUT_MS,
          onBroken: err => {
            Log.warn(
              { err: String(err) },
              "netlink socket failed; opening a new one and re-reading",
            );
            if (this.channel === channel) this.channel = undefined;
            this.onResync();
          },
        },
      );
      this.channel = channel;
    }
    return this.channel;
  }
}
