import type { Labels } from '../model.js';
import { DEFAULT_GROUP_BY, DEFAULT_MAX_ALERTS, DEFAULT_TIMINGS, type RouteConfig, type RouteTimings } from '../monitor-config.js';
import { formatMatcher, matchesAll, type Matcher } from './matchers.js';

// The routing tree (Alertmanager's): the root matches every alert; an alert goes down into the first child
// that matches, and on into that child's children; a child with `continue` lets the search go on to its
// later siblings too. An alert that matches no child of a node stays at that node. Settings a route does not
// give are inherited from its parent.

export class Route {
  /** stable identity of the route in the tree, part of every group key: `{}/{db="shop"}/…` */
  readonly key: string;
  readonly children: Route[];
  readonly receiver: string | undefined;
  readonly matchers: Matcher[];
  readonly continue: boolean;
  /** label names, or undefined for every label ("...") */
  readonly groupBy: string[] | undefined;
  readonly timings: RouteTimings;
  /** alerts listed in one notification (0: every one); the rest are counted */
  readonly maxAlerts: number;

  constructor(cfg: RouteConfig, parent?: Route, index = 0) {
    this.matchers = cfg.matchers;
    this.continue = cfg.continue;
    this.receiver = cfg.receiver ?? parent?.receiver;
    const groupBy = cfg.groupBy ?? (parent ? (parent.groupBy ?? ['...']) : DEFAULT_GROUP_BY);
    this.groupBy = groupBy.includes('...') ? undefined : groupBy;
    const inherited = parent?.timings ?? DEFAULT_TIMINGS;
    this.timings = {
      groupWaitMs: cfg.groupWaitMs ?? inherited.groupWaitMs,
      groupIntervalMs: cfg.groupIntervalMs ?? inherited.groupIntervalMs,
      repeatIntervalMs: cfg.repeatIntervalMs ?? inherited.repeatIntervalMs,
    };
    this.maxAlerts = cfg.maxAlerts ?? parent?.maxAlerts ?? DEFAULT_MAX_ALERTS;
    // The index keeps two siblings with the same matchers apart.
    const own = `{${this.matchers.map(formatMatcher).join(',')}}`;
    this.key = parent ? `${parent.key}/${index}${own}` : own;
    this.children = cfg.routes.map((c, i) => new Route(c, this, i));
  }

  /** The routes an alert with these labels goes to, in tree order. */
  match(labels: Labels): Route[] {
    if (!matchesAll(this.matchers, labels)) return [];
    const out: Route[] = [];
    for (const child of this.children) {
      const found = child.match(labels);
      if (found.length === 0) continue;
      out.push(...found);
      if (!child.continue) break;
    }
    return out.length > 0 ? out : [this];
  }

  /** The labels an alert is grouped by on this route. */
  groupLabels(labels: Labels): Labels {
    if (!this.groupBy) return { ...labels };
    const out: Labels = {};
    for (const name of this.groupBy) if (labels[name] !== undefined) out[name] = labels[name]!;
    return out;
  }

  /** Every route of the tree, depth first. */
  *all(): Iterable<Route> {
    yield this;
    for (const c of this.children) yield* c.all();
  }
}

/** Alertmanager's group key form: route key, then the group labels. */
export function groupKeyOf(route: Route, groupLabels: Labels): string {
  const parts = Object.keys(groupLabels).sort().map((k) => `${k}=${JSON.stringify(groupLabels[k])}`);
  return `${route.key}:{${parts.join(',')}}`;
}
