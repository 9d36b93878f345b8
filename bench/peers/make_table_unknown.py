#!/usr/bin/env python3
"""A synthetic long-format table for the new_series_unknown_cat golden model (its series encoder has add_nan, so any
number of series ids is valid): N series x R rows, columns series,time_idx,dow,hour,status,y; labels of dow and
status taken from the golden's own request. For forecast-table throughput on many series (bench/peers/table_bench.sh).

    python3 bench/peers/make_table_unknown.py N R OUT.csv        (standard library only)"""
import json, struct, sys, random
b=open('weights/goldens/new_series_unknown_cat/fixture.safetensors','rb').read(); n=struct.unpack('<Q',b[:8])[0]
req=json.loads(json.loads(b[8:8+n])['__metadata__']['request'])
s0=req['series'][0]; dows=sorted(set(s0['history']['dow'])); sts=sorted(set(x for s in req['series'] for x in s['history']['status']))
N=int(sys.argv[1]); R=int(sys.argv[2]); rnd=random.Random(1)
out=open(sys.argv[3],'w'); out.write('series,time_idx,dow,hour,status,y\n')
for i in range(N):
    lvl=rnd.uniform(5,50)
    for t in range(R):
        out.write(f"s{i:05d},{t},{dows[(t//24)%len(dows)]},{t%24},{sts[(t//7)%len(sts)]},{lvl+3*((t%24)/24.0)+rnd.gauss(0,1):.4f}\n")
