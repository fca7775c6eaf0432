# Temporary held-500 turn-start trace analysis (see test/bench/results/2026-12-01-turn-start.md).
# Runs are folders under TRACE_DIR holding worker.txt (worker and API marks), client.txt, queue.txt, bench.log.
import os
BASE = os.environ.get('TRACE_DIR', '.')
import sys, collections, statistics
d = sys.argv[1]
marks = collections.defaultdict(dict)
for f in ['worker', 'api', 'client']:
    try:
        for line in open(f'{d}/{f}.txt'):
            k, i, t = line.split()
            if i == 'undefined': continue
            # first occurrence only (fetch marks may repeat for delayed jobs)
            marks[i].setdefault(k, float(t))
    except FileNotFoundError:
        pass
ids = [i for i, m in marks.items() if 'c.t0' in m and 'c.started' in m and 'w.proc' in m]
print('turns', len(ids))
def pct(xs, p):
    xs = sorted(xs); 
    if not xs: return float('nan')
    k = (len(xs)-1)*p/100; lo=int(k); hi=min(lo+1,len(xs)-1); return xs[lo]+(xs[hi]-xs[lo])*(k-lo)
segs = [
 ('POST sent -> API handler', 'c.t0', 'a.enter'),
 ('handler -> insert done', 'a.enter', 'a.insert'),
 ('insert -> queued published', 'a.insert', 'a.queued'),
 ('queued -> job added', 'a.queued', 'a.added'),
 ('job added -> POST reply at client', 'a.added', 'c.post'),
 ('job added (API) -> fetch issued', 'a.added', 'w.fetch0'),
 ('fetch issued -> fetched', 'w.fetch0', 'w.fetch1'),
 ('fetched -> processor entered', 'w.fetch1', 'w.proc'),
 ('processor -> reads', 'w.proc', 'w.reads'),
 ('reads -> slot', 'w.reads', 'w.slot'),
 ('slot -> lease', 'w.slot', 'w.lease'),
 ('lease -> claim', 'w.lease', 'w.claim'),
 ('claim -> publish start', 'w.claim', 'w.pub0'),
 ('publish start -> published(+attempt)', 'w.pub0', 'w.pub1'),
 ('published -> API writes frame', 'w.pub1', 'a.sse_started'),
 ('API frame -> client turn.started', 'a.sse_started', 'c.started'),
 ('--- totals', None, None),
 ('POST sent -> job added', 'c.t0', 'a.added'),
 ('job added -> processor', 'a.added', 'w.proc'),
 ('processor -> published', 'w.proc', 'w.pub1'),
 ('published -> client started', 'w.pub1', 'c.started'),
 ('POST sent -> client started', 'c.t0', 'c.started'),
 ('client started -> first chunk', 'c.started', 'c.first'),
 ('POST sent -> first chunk', 'c.t0', 'c.first'),
]
print(f"{'segment':42s} {'n':>4s} {'p50':>7s} {'p90':>7s} {'p99':>7s} {'max':>7s} | mean over top10% started")
tot = [(marks[i]['c.started']-marks[i]['c.t0'], i) for i in ids]
tot.sort()
top = [i for _, i in tot[int(len(tot)*0.9):]]
for name, a, b in segs:
    if a is None: print(name); continue
    xs = [marks[i][b]-marks[i][a] for i in ids if a in marks[i] and b in marks[i]]
    ts = [marks[i][b]-marks[i][a] for i in top if a in marks[i] and b in marks[i]]
    if not xs: print(f'{name:42s} none'); continue
    print(f"{name:42s} {len(xs):4d} {pct(xs,50):7.1f} {pct(xs,90):7.1f} {pct(xs,99):7.1f} {max(xs):7.1f} | {statistics.mean(ts) if ts else float('nan'):7.1f}")
# queue samples
try:
    q = [l.split() for l in open(f'{d}/queue.txt') if l.startswith('q ')]
    t0 = min(marks[i]['c.t0'] for i in ids)
    mx = max(int(x[2]) for x in q)
    print('wait list max', mx, 'active max', max(int(x[3]) for x in q))
    # during ramp: samples within first 3.5 s
    ramp = [int(x[2]) for x in q if t0 <= float(x[1]) <= t0 + 3500]
    if ramp: print('wait during ramp: mean %.1f p90 %.0f max %d, nonzero share %.2f' % (statistics.mean(ramp), pct(ramp,90), max(ramp), sum(1 for r in ramp if r>0)/len(ramp)))
except FileNotFoundError:
    pass
# time series of started latency by post index (per 250ms bucket)
t0 = min(marks[i]['c.t0'] for i in ids)
b = collections.defaultdict(list)
for i in ids:
    b[int((marks[i]['c.t0']-t0)//250)].append(marks[i]['c.started']-marks[i]['c.t0'])
print('by post time (250 ms buckets): p50/max started ms:', ' '.join(f"{k*0.25:.2f}s:{pct(v,50):.0f}/{max(v):.0f}" for k, v in sorted(b.items())))
