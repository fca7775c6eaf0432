# Temporary held-500 turn-start trace analysis (see test/bench/results/2026-12-01-turn-start.md).
# Runs are folders under TRACE_DIR holding worker.txt (worker and API marks), client.txt, queue.txt, bench.log.
import os
BASE = os.environ.get('TRACE_DIR', '.')
import sys, statistics
sys.argv=['x','seg']+sys.argv[1:]
exec(open(os.path.join(os.path.dirname(__file__), 'table.py')).read().split("if mode=='runs':")[0])
print('| segment | median turn: p50 ms, range over runs (median) | slowest 10%: mean ms, range (median) | share of the slowest 10% (median) |')
print('|---|---|---|---|')
for name,_,_ in chain:
    a=[r[6][name][0] for r in rows]; b=[r[6][name][1] for r in rows]
    sh=[r[6][name][1]/sum(v[1] for v in r[6].values()) for r in rows]
    print(f'| {name} | {min(a):.1f}-{max(a):.1f} ({statistics.median(a):.1f}) | {min(b):.0f}-{max(b):.0f} ({statistics.median(b):.0f}) | {statistics.median(sh)*100:.0f} % |')
tot=[r[4][0] for r in rows]; tt=[sum(v[1] for v in r[6].values()) for r in rows]
print(f'| **POST to turn.started** | {min(tot):.0f}-{max(tot):.0f} ({statistics.median(tot):.0f}) | {min(tt):.0f}-{max(tt):.0f} ({statistics.median(tt):.0f}) | |')
