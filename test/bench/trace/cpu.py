# Temporary held-500 turn-start trace analysis (see test/bench/results/2026-12-01-turn-start.md).
# Runs are folders under TRACE_DIR holding worker.txt (worker and API marks), client.txt, queue.txt, bench.log.
import os
BASE = os.environ.get('TRACE_DIR', '.')
import sys
names=['worker','api','redis','sim','client','postgres']
for d in sys.argv[1:]:
    c=[l.split() for l in open(f'{BASE}/{d}/queue.txt') if l.startswith('c ')]
    q=[l.split() for l in open(f'{BASE}/{d}/queue.txt') if l.startswith('q ')]
    start=next(float(x[1]) for x in q if int(x[3])>0)
    print(d, 'time host', ' '.join(names))
    last=None; acc=None
    for x in c:
        t=float(x[1]); v=list(map(int,x[2:]))
        if last is None or t-last[0]>=480:
            if last is not None and start-1500<=t<=start+5000:
                dt=(t-last[0])/1000
                host=(v[0]-last[1][0])/(v[1]-last[1][1])*2
                per=[(v[2+i]-last[1][2+i])/100/dt for i in range(6)]
                print(f"  {(t-start)/1000:5.2f}s {host:.2f} " + ' '.join(f'{p:.2f}' for p in per))
            last=(t,v)
