# Temporary held-500 turn-start trace analysis (see test/bench/results/2026-12-01-turn-start.md).
# Runs are folders under TRACE_DIR holding worker.txt (worker and API marks), client.txt, queue.txt, bench.log.
import os
BASE = os.environ.get('TRACE_DIR', '.')
import sys, collections, statistics, re
def pct(xs,p):
    xs=sorted(xs); k=(len(xs)-1)*p/100; lo=int(k); hi=min(lo+1,len(xs)-1); return xs[lo]+(xs[hi]-xs[lo])*(k-lo)
chain=[('API: POST to job added','c.t0','a.added'),('waiting in Redis','a.added','w.fetch0'),('fetch round trip','w.fetch0','w.fetch1'),
('fetched, not started (batch)','w.fetch1','w.proc'),('reads (PG)','w.proc','w.reads'),('tenant slot (Redis)','w.reads','w.slot'),
('lease (Redis)','w.slot','w.lease'),('fence claim (PG)','w.lease','w.claim'),('publish turn.started','w.claim','w.pub1'),('to the client','w.pub1','c.started')]
def load(d):
    marks=collections.defaultdict(dict)
    for f in ['worker','client']:
        for line in open(f'{d}/{f}.txt'):
            k,i,t=line.split()
            marks[i].setdefault(k,float(t))
    ids=[i for i,m in marks.items() if all(x in m for x in ['c.t0','c.started','w.proc','w.pub1','w.fetch0','a.added','w.claim'])]
    return marks, ids
mode=sys.argv[1]
rows=[]
for spec in sys.argv[2:]:
    arm,d=spec.split('=')
    marks,ids=load(f'{BASE}/{d}')
    log=open(f'{BASE}/{d}/bench.log').read()
    m=re.search(r'ttfc p50 ([\d.]+)/([\d.]+) p99 ([\d.]+)/([\d.]+) ms.*?lag p99 ([\d.]+)',log)
    la=re.search(r'lock-acquired \S+ load (\S+)',log).group(1)
    st=[marks[i]['c.started']-marks[i]['c.t0'] for i in ids]
    order=sorted(ids,key=lambda i: marks[i]['c.started']-marks[i]['c.t0'])
    top=order[int(len(order)*0.9):]
    q=[l.split() for l in open(f'{BASE}/{d}/queue.txt') if l.startswith('q ')]
    wmax=max(int(x[2]) for x in q)
    seg={}
    for name,a,b in chain:
        seg[name]=(pct([marks[i][b]-marks[i][a] for i in ids],50), statistics.mean(marks[i][b]-marks[i][a] for i in top))
    rows.append((d,arm,la,m.groups(),(pct(st,50),pct(st,90),pct(st,99)),wmax,seg,len(ids)))
if mode=='runs':
    print('| run | arm | load | first chunk p50 / p99 ms (direct) | turn.started p50 / p90 / p99 ms | most jobs waiting | loop lag p99 ms |')
    print('|---|---|---|---|---|---|---|')
    for d,arm,la,g,s,w,seg,n in rows:
        print(f'| {d} | {arm} | {la} | {g[0]} / {g[2]} ({g[1]} / {g[3]}) | {s[0]:.0f} / {s[1]:.0f} / {s[2]:.0f} | {w} | {g[4]} |')
else:
    print('| segment | ' + ' | '.join(r[0] for r in rows) + ' |')
    print('|---|' + '---|'*len(rows))
    for name,_,_ in chain:
        print(f'| {name} | ' + ' | '.join(f'{r[6][name][0]:.1f} / {r[6][name][1]:.0f}' for r in rows) + ' |')
    print('| **POST to turn.started** | ' + ' | '.join(f'{r[4][0]:.0f} / {sum(v[1] for v in r[6].values()):.0f}' for r in rows) + ' |')
