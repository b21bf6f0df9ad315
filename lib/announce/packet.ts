import type * as KoffiModule from "koffi";
import { runtimeRequire } from "../runtime-require";

const AF_PACKET = 17;
const SOCK_RAW = 3;
const SOCK_CLOEXEC = 0o2000000;

/**
 * One AF_PACKET socket, opened once and kept, that sends whole Ethernet frames through libc
 * (via koffi's prebuilt FFI). Protocol 0: it never receives, so it never queues anything.
 */
export class PacketSocket {
  private readonly sendto: (
    fd: number,
    buf: Buffer,
    len: number,
    flags: number,
    addr: Buffer,
    addrlen: number,
  ) => number;
  private readonly closeFd: (fd: number) => number;
  private readonly koffi: typeof KoffiModule;
  private fd: number;

  constructor() {
    this.koffi = runtimeRequire("koffi") as typeof KoffiModule;
    const libc = this.koffi.load("libc.so.6");
    const socket = libc.func("int socket(int domain, int type, int protocol)") as (
      d: number,
      t: number,
      p: number,
    ) => number;
    this.sendto = libc.func(
      "intptr_t sendto(int fd, const void *buf, size_t len, int flags, const void *addr, uint32_t addrlen)",
    );
    this.closeFd = libc.func("int close(int fd)");
    this.fd = socket(AF_PACKET, SOCK_RAW | SOCK_CLOEXEC, 0);
    if (this.fd < 0)
      throw new Error(`AF_PACKET socket: errno ${this.koffi.errno()} (needs CAP_NET_RAW)`);
  }

  /** Sends one frame out of the interface; `protocol` is the EtherType (host order). */
  send(ifindex: number, frame: Buffer, protocol: number): void {
    const sll = Buffer.alloc(20);
    sll.writeUInt16LE(AF_PACKET, 0);
    sll.writeUInt16BE(protocol, 2);
    sll.writeInt32LE(ifindex, 4);
    sll.writeUInt8(6, 11);
    frame.copy(sll, 12, 0, 6);
    const n = this.sendto(this.fd, frame, frame.length, 0, sll, sll.length);
    if (n < 0) throw new Error(`sendto on interface ${ifindex}: errno ${this.koffi.errno()}`);
  }

  close(): void {
    if (this.fd >= 0) this.closeFd(this.fd);
    this.fd = -1;
  }
}
