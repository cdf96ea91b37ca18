/**
 * The DHCP servers a client talks to (`DHCP_SERVER=a,b,…`), in the operator's order, and which
 * of them new acquisitions go to now.
 *
 * A DISCOVER goes to one server: the preferred one, at first the first listed. When an attempt
 * sent to the preferred server gets no answer before its retransmission is due, the next
 * listed server becomes the preferred one, so the retransmission (and every acquisition after
 * it) goes there; it stays preferred until it too goes silent. Sticking to the server that
 * answers, rather than going back to the first at each request, keeps a dead primary from
 * costing every new container a retransmission delay (4 s). A server that is alive but has
 * nothing to offer (pool exhausted: ISC and dnsmasq then stay silent) is passed over the same
 * way, which is what split pools want.
 *
 * Everything else follows RFC 2131: a renewal goes to the server that granted the lease
 * (§4.4.5 RENEWING), while a rebind and an INIT-REBOOT, broadcast in the RFC, go to every
 * listed server and accept an answer from any of them. Pure state, no I/O.
 */
export class ServerList {
  readonly all: readonly string[];
  #preferred = 0;

  constructor(servers: readonly string[]) {
    if (servers.length === 0) throw new RangeError('at least one DHCP server is needed');
    this.all = Object.freeze([...servers]);
  }

  /** Where the next DISCOVER goes. */
  get preferred(): string {
    return this.all[this.#preferred] as string;
  }

  /**
   * An attempt sent to `server` went unanswered. If it is still the preferred server, the next
   * one becomes preferred; a silence from a server already passed over changes nothing (200
   * acquisitions in flight to a dead server move on once, not 200 times).
   */
  noAnswer(server: string): void {
    if (this.all.length > 1 && server === this.preferred) this.#preferred = (this.#preferred + 1) % this.all.length;
  }
}
