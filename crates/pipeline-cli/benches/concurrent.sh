#!/bin/bash
# N concurrent `pipeline` recordings of gst-rtsp-server's file-backed mount (non-shared: one
# server pipeline per client); prints each output's video/audio frame counts (ffprobe),
# CPU (user, system) and wall seconds of each recorder, and the "lost" log lines.
#   cargo build --release -p media-toolkit-cli && benches/concurrent.sh target/release/pipeline SOURCE.mp4 [N=32] [SECONDS=10]
# SOURCE.mp4 must last SECONDS + 2 s (see benches/record_cpu.rs for the 720p one).
set -u
BIN=$1; SRC=$2; N=${3:-32}; SECS=${4:-10}
ROOT=$(cd "$(dirname "$0")/../../.." && pwd)
D=$(mktemp -d /tmp/conc32.XXXX)
/usr/bin/python3 $ROOT/crates/test-support/scripts/rtsp_test_server.py --port 0 --file $SRC > $D/srv.log 2>&1 &
SRV=$!
for i in $(seq 50); do grep -q ready $D/srv.log && break; sleep 0.2; done
PORT=$(grep -o '[0-9]*$' $D/srv.log | head -1)
START=$(date +%s.%N)
PIDS=""
for i in $(seq $N); do
  /usr/bin/time -f "%U %S %e" -o $D/time$i $BIN --allow-loss --duration $SECS rtsp://127.0.0.1:$PORT/file $D/out$i.mp4 > $D/log$i 2>&1 &
  PIDS="$PIDS $!"
done
wait $PIDS
END=$(date +%s.%N)
kill $SRV; wait $SRV 2>/dev/null
echo "wall $(echo "$END - $START" | bc)"
for i in $(seq $N); do
  v=$(ffprobe -v error -select_streams v:0 -count_packets -show_entries stream=nb_read_packets -of csv=p=0 $D/out$i.mp4 2>&1)
  a=$(ffprobe -v error -select_streams a:0 -count_packets -show_entries stream=nb_read_packets -of csv=p=0 $D/out$i.mp4 2>&1)
  lost=$(grep -ci "lost" $D/log$i)
  echo "$i video=$v audio=$a cpu(u s wall)=$(cat $D/time$i) loss-lines=$lost"
done
echo $D
