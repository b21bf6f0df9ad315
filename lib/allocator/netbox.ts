import { Log } from "../log";
import { Address, Family, parseAddress } from "../ip/address";
import { AddressBook, Port } from "../ipam/address-book";
import { Failure, fail } from "../ipam/failure";
import { chooseFamilies } from "../ipam/families";
import { GroupModel, groupKey } from "../ipam/group";
import { ServiceModel, serviceKey } from "../k8s/service";
import { NetboxIpam, NetboxOwner, netboxFamilies } from "../netbox/ipam";

export interface ExternalRequest {
  svc: ServiceModel;
  group: GroupModel;
  requested: Map<Family, Address>;
  sharingKey?: string;
  ports: Port[];
  held: readonly string[];
}

/**
 * Allocation from Netbox: the address comes from Netbox's atomic allocation and is then
 * claimed in the same address book as internal pools, so the one-owner rule still holds.
 * Records who created each Netbox record so that the last holder's release deletes it.
 */
export class NetboxAllocations {
  private readonly creators = new Map<string, NetboxOwner>();

  constructor(
    private readonly netbox: NetboxIpam,
    private readonly book: AddressBook,
    readonly cluster: string,
  ) {}

  owner(svc: { namespace: string; name: string; uid: string }): NetboxOwner {
    return { namespace: svc.namespace, name: svc.name, uid: svc.uid, cluster: this.cluster };
  }

  /** Claims the missing families' addresses; all or nothing for RequireDualStack. */
  async allocate(req: ExternalRequest): Promise<{ ok: true; added: string[] } | Failure> {
    const { svc, group } = req;
    const key = serviceKey(svc);
    const fams = chooseFamilies(
      svc.ipFamilyPolicy,
      svc.ipFamilies,
      netboxFamilies(group),
      group.name,
    );
    if (!fams.ok) return fams;
    const heldFamilies = new Set(req.held.map(t => parseAddress(t)?.family));
    const added: string[] = [];
    let firstFailure: Failure | undefined;
    for (const family of fams.families) {
      if (heldFamilies.has(family)) continue;
      const got = await this.one(req, family);
      if (got.ok) {
        added.push(got.text);
        continue;
      }
      firstFailure ??= got;
      if (fams.all) break;
    }
    if (firstFailure && (fams.all || added.length + req.held.length === 0)) {
      for (const text of added) await this.release(key, text, group);
      return firstFailure;
    }
    return { ok: true, added };
  }

  private async one(
    req: ExternalRequest,
    family: Family,
  ): Promise<{ ok: true; text: string } | Failure> {
    const key = serviceKey(req.svc);
    const gk = groupKey(req.group.namespace, req.group.name);
    if (req.sharingKey) {
      for (const text of this.book.addressesOfKey(req.sharingKey)) {
        const e = this.book.entry(text)!;
        if (e.address.family !== family || e.group !== gk) continue;
        const check = this.book.canShare(text, key, req.sharingKey, req.ports);
        if (!check.ok)
          return fail(
            "sharing-conflict",
            `${check.reason}; use another port or sharing key`,
            check.port ? "port_conflict" : undefined,
          );
        this.book.claim(key, e.address, text, gk, req.sharingKey, req.ports);
        return { ok: true, text };
      }
    }
    const owner = this.owner(req.svc);
    const r = await this.netbox.allocate(req.group, family, owner, req.requested.get(family));
    if (!r.ok) return r;
    const text = r.allocation.address;
    const address = parseAddress(text)!;
    const check = this.book.canShare(text, key, req.sharingKey, req.ports);
    if (!check.ok) {
      await this.netbox.release(req.group, text, owner);
      return fail(
        "address-in-use",
        `Netbox handed out ${text}, which this cluster already uses (${check.reason}); remove it from the Netbox prefix or mark it reserved there`,
      );
    }
    this.book.claim(key, address, text, gk, req.sharingKey, req.ports);
    this.creators.set(text, owner);
    return { ok: true, text };
  }

  /**
   * Drops `service`'s hold on `text`; when no one holds it any more, deletes the Netbox
   * record (retrying in the background while Netbox is unreachable).
   */
  async release(
    service: string,
    text: string,
    group: GroupModel | undefined,
    fallbackOwner?: NetboxOwner,
  ): Promise<void> {
    if (!this.book.releaseOne(service, text)) return;
    const owner = this.creators.get(text) ?? fallbackOwner;
    this.creators.delete(text);
    if (!group || !owner) {
      Log.warn(
        { address: text, service },
        "cannot release this address in Netbox: its group or owner is unknown; delete the record there",
      );
      return;
    }
    await this.releaseInNetbox(group, text, owner, 1);
  }

  /**
   * Deletes this cluster's records in `groups`' tenants whose address no Service holds and
   * whose creator Service no longer exists: left behind by Services deleted while the
   * allocator was down, or by a shared address whose last holder did not create the record.
   * A record whose creator exists (`isLive`, asked at the moment of deciding) may belong to an
   * allocation in flight and stays.
   */
  async sweep(groups: GroupModel[], isLive: (uid: string) => boolean): Promise<number> {
    let deleted = 0;
    const seen = new Set<number>();
    for (const group of groups) {
      const owned = await this.netbox.owned(group, this.cluster);
      if (!owned.ok) {
        Log.warn({ group: group.name, message: owned.message }, "Netbox sweep skipped a group");
        continue;
      }
      for (const r of owned.records) {
        if (seen.has(r.id)) continue;
        seen.add(r.id);
        if (this.book.entry(r.address) || isLive(r.uid)) continue;
        const owner = { namespace: "", name: "", uid: r.uid, cluster: this.cluster };
        const failed = await this.netbox.release(group, r.address, owner);
        if (failed) {
          Log.warn(
            { address: r.address, message: failed.message },
            "Netbox sweep could not delete a record",
          );
          continue;
        }
        deleted++;
        Log.info(
          { address: r.address, record: r.description },
          "deleted a Netbox record no Service holds",
        );
      }
    }
    return deleted;
  }

  private async releaseInNetbox(
    group: GroupModel,
    text: string,
    owner: NetboxOwner,
    attempt: number,
  ): Promise<void> {
    const r = await this.netbox.release(group, text, owner);
    if (!r) return;
    const delay = Math.min(1000 * 2 ** attempt, 300_000);
    Log.warn({ address: text, attempt, message: r.message }, "Netbox release failed; retrying");
    setTimeout(() => void this.releaseInNetbox(group, text, owner, attempt + 1), delay).unref();
  }
}
