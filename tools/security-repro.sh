#!/usr/bin/env bash
# The reproductions of issue 16 (one user reaching, taking or blocking
# another's work) against a real `sessionq serve`, each with the answer it
# must get. Usage: tools/security-repro.sh ./bin/sessionq (it starts its own
# redis-server on a free port). SERVE_FLAGS overrides the serve flags.
set -u
SQ=${1:?sessionq binary}
PORT=$(python3 -c 'import socket;s=socket.socket();s.bind(("127.0.0.1",0));print(s.getsockname()[1])')
GWPORT=$(python3 -c 'import socket;s=socket.socket();s.bind(("127.0.0.1",0));print(s.getsockname()[1])')
DIR=$(mktemp -d)
redis-server --port $PORT --save '' --appendonly no --dir $DIR --daemonize yes >/dev/null
export SESSIONQ_REDIS_URL=redis://127.0.0.1:$PORT/0
API=http://127.0.0.1:$GWPORT
J='Content-Type: application/json'
$SQ serve --addr 127.0.0.1:$GWPORT ${SERVE_FLAGS---trusted-proxies 127.0.0.1} >$DIR/serve.log 2>&1 &
SERVE=$!
trap 'kill $SERVE 2>/dev/null; redis-cli -p $PORT shutdown nosave >/dev/null 2>&1; rm -rf $DIR' EXIT
for i in $(seq 100); do curl -sf $API/healthz >/dev/null && break; sleep 0.1; done
pass=0; fail=0
check() { # name want got
  if [ "$2" = "$3" ]; then echo "ok   $1 ($3)"; pass=$((pass+1)); else echo "FAIL $1: want $2, got $3"; fail=$((fail+1)); fi
}
printf 'alicepw1\n' | $SQ user add alice --password-stdin --grant read:own --grant write:own --grant 'submit:*/*' >/dev/null
$SQ user add bob --grant read:own --grant write:own --grant 'submit:*/*' >/dev/null
$SQ user add carol --grant impersonate --grant 'submit:*/*' --grant read:own --grant write:own >/dev/null
$SQ user add nobody >/dev/null
A=$($SQ user token create alice); B=$($SQ user token create bob); C=$($SQ user token create carol); N=$($SQ user token create nobody)
HA="Authorization: Bearer $A"; HB="Authorization: Bearer $B"; HC="Authorization: Bearer $C"; HN="Authorization: Bearer $N"

echo "== 1 job takeover through an idempotency key"
S=$(curl -s -H "$HA" -H "$J" -d '{"createSession":true}' $API/v1/sessions | jq -r .sessionId)
AJ=$(curl -s -H "$HA" -H "$J" -H "Sessionq-Session: $S" -d '{"type":"pay","idempotency_key":"pay-run-2","payload":"alice secret"}' $API/v1/jobs | jq -r .id)
R=$(curl -s -H "$HB" -H "$J" -d '{"type":"pay","idempotency_key":"pay-run-2"}' $API/v1/jobs)
check "bob's submit with alice's key is a new job of his" true "$(jq -r --arg a "$AJ" '.id != $a and .existing == false' <<<"$R")"
check "bob reads alice's job" 404 "$(curl -s -o /dev/null -w '%{http_code}' -H "$HB" $API/v1/jobs/$AJ)"
check "bob cancels alice's job" 404 "$(curl -s -o /dev/null -w '%{http_code}' -X DELETE -H "$HB" $API/v1/jobs/$AJ)"
check "alice still reads her job" 200 "$(curl -s -o /dev/null -w '%{http_code}' -H "$HA" $API/v1/jobs/$AJ)"
check "alice's job keeps its owner" alice "$(curl -s -H "$HA" $API/v1/jobs/$AJ | jq -r .owner)"
check "alice reuses the key for a plain job" 409 "$(curl -s -o /dev/null -w '%{http_code}' -H "$HA" -H "$J" -d '{"type":"pay","idempotency_key":"pay-run-2"}' $API/v1/jobs)"

echo "== 2 key squatting"
BJ=$(curl -s -H "$HB" -H "$J" -d '{"type":"inv","idempotency_key":"invoice-2026-001"}' $API/v1/jobs | jq -r .id)
R=$(curl -s -H "$HA" -H "$J" -d '{"type":"inv","idempotency_key":"invoice-2026-001"}' $API/v1/jobs)
check "alice's later submit is her own new job" true "$(jq -r --arg b "$BJ" '.id != $b and .existing == false' <<<"$R")"

echo "== 3 revoking impersonate ends what it opened"
CS=$(curl -s -H "$HC" -H "$J" -d '{"createSession":true,"user":"alice"}' $API/v1/sessions | jq -r .sessionId)
check "carol uses the session she opened for alice" 204 "$(curl -s -o /dev/null -w '%{http_code}' -X PUT -H "$HC" -H "$J" -d '{"value":"1"}' $API/v1/sessions/$CS/params/k)"
$SQ user revoke carol impersonate >/dev/null
check "after revoke: carol writes a param" 404 "$(curl -s -o /dev/null -w '%{http_code}' -X PUT -H "$HC" -H "$J" -d '{"value":"2"}' $API/v1/sessions/$CS/params/k)"
check "after revoke: carol submits in it" 404 "$(curl -s -o /dev/null -w '%{http_code}' -H "$HC" -H "$J" -H "Sessionq-Session: $CS" -d '{"type":"x"}' $API/v1/jobs)"
$SQ user grant carol impersonate >/dev/null

echo "== 4 limits by default"
check "idleTimeout 87600h" 400 "$(curl -s -o /dev/null -w '%{http_code}' -H "$HN" -H "$J" -d '{"createSession":true,"idleTimeout":"87600h"}' $API/v1/sessions)"
check "impersonate for a user that does not exist" 404 "$(curl -s -o /dev/null -w '%{http_code}' -H "$HC" -H "$J" -d '{"createSession":true,"user":"ghost-1"}' $API/v1/sessions)"
code=201; n=0
while [ "$code" = 201 ] && [ $n -lt 1100 ]; do
  code=$(curl -s -o /dev/null -w '%{http_code}' -H "$HN" -H "$J" -d '{"createSession":true}' $API/v1/sessions); n=$((n+1))
done
check "sessions a rightless user can open before the cap" "1001 429" "$n $code"
pids=()
for i in $(seq 16); do curl -s -N -H "$HB" $API/v1/jobs/$BJ/events >/dev/null & pids+=($!); done
for i in $(seq 50); do [ "$(curl -s -H "Authorization: Bearer $($SQ user token create alice --label m 2>/dev/null | head -1)" $API/metrics 2>/dev/null | grep -c '^sessionq_gateway_streams ')" ] ; break; done
sleep 1
check "17th event stream of one user" 429 "$(curl -s -o /dev/null -w '%{http_code}' -m 2 -H "$HB" $API/v1/jobs/$BJ/events)"
kill "${pids[@]}" 2>/dev/null

echo "== 5 tokens end with the password and logout"
LT=$(curl -s -H "$J" -d '{"user":"alice","password":"alicepw1"}' $API/v1/login | jq -r .token)
check "login token works" 200 "$(curl -s -o /dev/null -w '%{http_code}' -H "Authorization: Bearer $LT" $API/v1/sessions)"
printf 'alicepw2\n' | $SQ user password alice >/dev/null
check "login token after password change" 401 "$(curl -s -o /dev/null -w '%{http_code}' -H "Authorization: Bearer $LT" $API/v1/sessions)"
check "admin-made token after password change" 200 "$(curl -s -o /dev/null -w '%{http_code}' -H "$HA" $API/v1/sessions)"
LT=$(curl -s -H "$J" -d '{"user":"alice","password":"alicepw2"}' $API/v1/login | jq -r .token)
check "POST /v1/logout" 204 "$(curl -s -o /dev/null -w '%{http_code}' -X POST -H "Authorization: Bearer $LT" $API/v1/logout)"
check "token after logout" 401 "$(curl -s -o /dev/null -w '%{http_code}' -H "Authorization: Bearer $LT" $API/v1/sessions)"
CK=$DIR/cookies
curl -s -c $CK -o /dev/null -H "Origin: $API" --data-urlencode user=alice --data-urlencode password=alicepw2 $API/ui/login
UITOK=$(awk 'NF>=7 && $6 != "sessionq_session" {print $7}' $CK | tail -1)
CSRF=$(curl -s -b $CK $API/ui/sessions | grep -o 'name="csrf" value="[^"]*"' | head -1 | sed 's/.*value="//; s/"$//')
curl -s -b $CK -c $CK -o /dev/null -H "Origin: $API" --data-urlencode csrf="$CSRF" $API/ui/logout
check "dashboard token after logout, as Bearer" 401 "$(curl -s -o /dev/null -w '%{http_code}' -H "Authorization: Bearer $UITOK" $API/v1/sessions)"

echo "== 6 TIDs per owner"
check "alice binds alice-term-2" 201 "$(curl -s -o /dev/null -w '%{http_code}' -H "$HA" -H "$J" -d '{"createSession":true,"TID":"alice-term-2"}' $API/v1/sessions)"
check "bob's lookup of alice-term-2" 404 "$(curl -s -o /dev/null -w '%{http_code}' -H "$HB" -H "$J" -d '{"createSession":false,"TID":"alice-term-2"}' $API/v1/sessions)"
check "bob binds alice-term-2 in his own namespace" 201 "$(curl -s -o /dev/null -w '%{http_code}' -H "$HB" -H "$J" -d '{"createSession":true,"TID":"alice-term-2"}' $API/v1/sessions)"
check "alice's lookup still finds hers" 200 "$(curl -s -o /dev/null -w '%{http_code}' -H "$HA" -H "$J" -d '{"createSession":false,"TID":"alice-term-2"}' $API/v1/sessions)"

echo "== 7 nobody can lock alice out"
for i in $(seq 12); do curl -s -o /dev/null -H "$J" -H "X-Forwarded-For: 203.0.113.7" -d '{"user":"alice","password":"wrong"}' $API/v1/login; done
check "attacker's own next try" 429 "$(curl -s -o /dev/null -w '%{http_code}' -H "$J" -H "X-Forwarded-For: 203.0.113.7" -d '{"user":"alice","password":"wrong"}' $API/v1/login)"
check "alice's right password from her address" 200 "$(curl -s -o /dev/null -w '%{http_code}' -H "$J" -H "X-Forwarded-For: 198.51.100.9" -d '{"user":"alice","password":"alicepw2"}' $API/v1/login)"

echo "== 8 deployment"
check "/metrics without a token" 401 "$(curl -s -o /dev/null -w '%{http_code}' $API/metrics)"
check "/metrics with a read:own token" 403 "$(curl -s -o /dev/null -w '%{http_code}' -H "$HB" $API/metrics)"
check "cross-origin POST /ui/login" 403 "$(curl -s -o /dev/null -w '%{http_code}' -H 'Origin: https://evil.example' --data-urlencode user=alice --data-urlencode password=alicepw2 $API/ui/login)"
check "file named -rf" 400 "$(curl -s -o /dev/null -w '%{http_code}' -X PUT -H "$HA" --data-binary x $API/v1/sessions/$S/files/-rf)"
check "file name with U+202E" 400 "$(curl -s -o /dev/null -w '%{http_code}' -X PUT -H "$HA" --data-binary x "$API/v1/sessions/$S/files/a%E2%80%AEfdp.exe")"
echo "$pass passed, $fail failed"
