/**
 * Docker's names, labels and version, from the Docker Engine API over its
 * unix socket: the containers are listed once, then Docker's events are
 * followed, and the list is taken again after a container is created,
 * destroyed or renamed (a burst of them, one list; lists spaced by
 * DOCKER_LIMITS), or after the event stream breaks. Every call has a short timeout
 * and a bound on size; an absent, slow or babbling socket only leaves
 * containers with their ids, and is said once per cause.
 */
import { errorMessage } from "../errors.js";
import type { Logger } from "../log.js";
import { silentLogger } from "../log.js";
import { keepFollowing } from "./backoff.js";
import { getJson, streamJsonLines } from "./http.js";
import type { Endpoint } from "./http.js";
import type { DockerDirectory } from "./source.js";

export const DEFAULT_DOCKER_SOCKET = "/var/run/docker.sock";

/**
 * Bounds of the calls: a list of thousands of containers fits; an endless
 * answer does not. A list follows a burst of events after `relistDelayMs`,
 * one at a time, and the next starts no sooner than `relistGapFactor`
 * times the last one's duration after it ended (at least
 * `relistMinGapMs`, at most `relistMaxGapMs`): a list that takes 0.5 s is
 * taken at most every 5 s, however many containers come and go.
 */
export const DOCKER_LIMITS = {
  timeoutMs: 3000,
  maxListBytes: 32 * 1024 * 1024,
  maxEventBytes: 256 * 1024,
  relistDelayMs: 200,
  relistMinGapMs: 1000,
  relistGapFactor: 10,
  relistMaxGapMs: 60_000,
};

/** The container events that change what scaph knows of containers (names, labels, which exist); a healthcheck's are not among them. */
export const RELIST_EVENTS = ["create", "destroy", "rename"];

interface Known {
  names: readonly string[];
  labels: Readonly<Record<string, string>>;
}

const ID = /^[0-9a-f]{64}$/;

/** The containers of a `GET /containers/json` answer that check out; the rest is left out. */
export function parseContainerList(body: unknown): Map<string, Known> {
  const out = new Map<string, Known>();
  if (!Array.isArray(body)) return out;
  for (const c of body as unknown[]) {
    if (typeof c !== "object" || c === null) continue;
    const { Id, Names, Labels } = c as { Id?: unknown; Names?: unknown; Labels?: unknown };
    if (typeof Id !== "string" || !ID.test(Id)) continue;
    const names = Array.isArray(Names) ? Names.filter((n): n is string => typeof n === "string").map((n) => n.replace(/^\//, "")) : [];
    const labels: Record<string, string> = {};
    if (typeof Labels === "object" && Labels !== null) {
      for (const [k, v] of Object.entries(Labels as Record<string, unknown>)) if (typeof v === "string") labels[k] = v;
    }
    out.set(Id, { names, labels });
  }
  return out;
}

export class DockerApi implements DockerDirectory {
  generation = 0;
  private known = new Map<string, Known>();
  private engineVersion: string | undefined;
  private readonly ep: Endpoint;
  private readonly follow: AbortController;
  private relistTimer: NodeJS.Timeout | null = null;

  constructor(
    readonly socketPath: string = DEFAULT_DOCKER_SOCKET,
    private readonly log: Logger = silentLogger,
  ) {
    this.ep = { socketPath };
    this.follow = keepFollowing(`containers: Docker Engine at ${socketPath}`, log, (signal, healthy) => this.session(signal, healthy));
  }

  container(id: string): Known | undefined {
    return this.known.get(id);
  }

  version(): string | undefined {
    return this.engineVersion;
  }

  close(): void {
    this.follow.abort();
    if (this.relistTimer) clearTimeout(this.relistTimer);
  }

  /** Lists taken (the first, then one after each burst of events or each new session). */
  lists = 0;
  /** Events read from the stream, of any kind (what a test waits on). */
  eventsRead = 0;

  /** One session: the version and the list, then the events until the stream ends. */
  private async session(signal: AbortSignal, healthy: () => void): Promise<void> {
    const v = (await getJson(this.ep, "/version", { timeoutMs: DOCKER_LIMITS.timeoutMs, maxBytes: 64 * 1024 })) as { Version?: unknown } | null;
    const version = typeof v?.Version === "string" && v.Version.length <= 64 ? v.Version : undefined;
    if (version !== this.engineVersion) {
      this.engineVersion = version;
      this.generation++;
    }
    await this.relist();
    healthy();
    const filters = encodeURIComponent(JSON.stringify({ type: ["container"], event: RELIST_EVENTS }));
    await streamJsonLines(
      this.ep,
      `/events?filters=${filters}`,
      { connectTimeoutMs: DOCKER_LIMITS.timeoutMs, maxLineBytes: DOCKER_LIMITS.maxEventBytes, signal },
      (ev) => {
        // (a peer that ignores the filter: the action is checked here too)
        this.eventsRead++;
        const action = (ev as { Action?: unknown; status?: unknown } | null)?.Action ?? (ev as { status?: unknown } | null)?.status;
        if (typeof action === "string" && RELIST_EVENTS.includes(action)) this.relistSoon();
      },
    );
  }

  private listing = false;
  /** An event came since the last list started. */
  private dirty = false;
  private lastList = { endMs: 0, tookMs: 0 };

  private async relist(): Promise<void> {
    this.listing = true;
    const t0 = Date.now();
    try {
      const body = await getJson(this.ep, "/containers/json?all=1", { timeoutMs: DOCKER_LIMITS.timeoutMs, maxBytes: DOCKER_LIMITS.maxListBytes });
      this.known = parseContainerList(body);
      this.lists++;
      this.generation++;
    } finally {
      this.listing = false;
      this.lastList = { endMs: Date.now(), tookMs: Date.now() - t0 };
    }
  }

  /** After an event: one list for a burst of events (a compose stack starting), one at a time, spaced by DOCKER_LIMITS. */
  private relistSoon(): void {
    if (this.follow.signal.aborted) return;
    this.dirty = true;
    if (this.listing || this.relistTimer) return;
    const L = DOCKER_LIMITS;
    const gap = Math.min(L.relistMaxGapMs, Math.max(L.relistMinGapMs, L.relistGapFactor * this.lastList.tookMs));
    const wait = Math.max(L.relistDelayMs, this.lastList.endMs + gap - Date.now());
    this.relistTimer = setTimeout(() => {
      this.relistTimer = null;
      this.dirty = false;
      this.relist()
        .catch((err: unknown) => this.log.debug(`containers: Docker list after an event failed: ${errorMessage(err)}`))
        .finally(() => {
          if (this.dirty) this.relistSoon();
        });
    }, wait);
    this.relistTimer.unref();
  }
}
