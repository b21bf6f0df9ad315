import { execFile } from "node:child_process";
import { Log } from "../log";
import { Family } from "../ip/address";
import { announcementFailed, announcementSent } from "../agent/metrics";
import { ETH_P_ARP, ETH_P_IPV6, gratuitousArp, unsolicitedNa } from "./frames";
import { PacketSocket } from "./packet";

export interface AnnounceTarget {
  ifindex: number;
  ifname: string;
  mac: Buffer;
  address: string;
  family: Family;
}

export interface GarpSettings {
  enabled: boolean;
  /** Rounds per announcement; each round sends both ARP forms, or one NA. */
  count: number;
  intervalMs: number;
  /** Wait after adding the address before the first frame (garpConfig.initialDelay). */
  initialDelayMs?: number;
  /** false: send every frame even when this node no longer holds the address (garpConfig). */
  verifyBeforeSend?: boolean;
}

/** How frames leave: our own AF_PACKET socket, iputils `arping` (IPv4 only), or not at all. */
export type AnnounceMechanism = "packet" | "arping" | "none";

/**
 * Sends gratuitous ARP / unsolicited NA for addresses this node starts (or keeps) holding.
 * Frames go through one AF_PACKET socket opened at start; if that is impossible (koffi or
 * libc missing, no CAP_NET_RAW) IPv4 falls back to `arping -U`/`-A`, IPv6 goes unannounced.
 */
export class Announcer {
  private constructor(
    readonly mechanism: AnnounceMechanism,
    private readonly socket?: PacketSocket,
  ) {}

  static create(prefer = process.env.PURELB_GARP_MECHANISM): Announcer {
    if (prefer !== "arping" && prefer !== "none") {
      try {
        return new Announcer("packet", new PacketSocket());
      } catch (err) {
        Log.warn(
          { err: String(err) },
          "cannot open an AF_PACKET socket; IPv4 announcements fall back to arping, IPv6 ones are off",
        );
      }
    }
    return new Announcer(prefer === "none" ? "none" : "arping");
  }

  /** Sends `count` rounds, `intervalMs` apart. Resolves when all are sent; never throws. */
  async announce(
    t: AnnounceTarget,
    s: GarpSettings,
    isCurrent: () => boolean = () => true,
  ): Promise<void> {
    if (!s.enabled || this.mechanism === "none") return;
    if (s.initialDelayMs) await new Promise(r => setTimeout(r, s.initialDelayMs).unref());
    for (let i = 0; i < Math.max(1, s.count); i++) {
      if (i > 0) await new Promise(r => setTimeout(r, s.intervalMs).unref());
      // An address that moved on while we waited must not be claimed again.
      if (s.verifyBeforeSend !== false && !isCurrent()) return;
      try {
        await this.round(t);
      } catch (err) {
        announcementFailed(t.family);
        Log.warn(
          { address: t.address, interface: t.ifname, err: String(err) },
          "could not send announcement",
        );
        return;
      }
    }
  }

  private async round(t: AnnounceTarget): Promise<void> {
    if (t.family === 4) {
      if (this.socket && t.mac.length === 6) {
        this.socket.send(t.ifindex, gratuitousArp(t.mac, t.address, "request"), ETH_P_ARP);
        this.socket.send(t.ifindex, gratuitousArp(t.mac, t.address, "reply"), ETH_P_ARP);
      } else {
        await arping(["-U", "-c", "1", "-I", t.ifname, t.address]);
        await arping(["-A", "-c", "1", "-I", t.ifname, t.address]);
      }
      announcementSent(4, t.ifname, 2);
    } else if (this.socket && t.mac.length === 6) {
      this.socket.send(t.ifindex, unsolicitedNa(t.mac, t.address), ETH_P_IPV6);
      announcementSent(6, t.ifname, 1);
    }
  }

  close(): void {
    this.socket?.close();
  }
}

function arping(args: string[]): Promise<void> {
  return new Promise((resolve, reject) => {
    // arping exits 1 when nobody answers, which is normal for gratuitous ARP.
    execFile("arping", args, { timeout: 5_000 }, (err, _out, stderr) => {
      const code = (err as { code?: number | string } | null)?.code;
      if (err && code !== 1)
        reject(new Error(`arping ${args.join(" ")}: ${stderr || err.message}`));
      else resolve();
    });
  });
}
