-- wrk script of bench/webhook.py: every request is a webhook carrying a new alert.
-- Arguments: a one-hex-digit phase (so that phases never repeat an alert) and the token.
-- Fingerprint = phase (1 hex digit) + wrk thread (2) + the thread's counter (13): 16 hex
-- digits, as Alertmanager's. The summary goes to stdout as one line: "WRK {json}".

local threads = 0

function setup(thread)
  threads = threads + 1
  thread:set("thread_number", threads)
end

function init(args)
  counter = 0
  phase = args[1]
  wrk.method = "POST"
  wrk.headers["Authorization"] = "Bearer " .. args[2]
  wrk.headers["Content-Type"] = "application/json"
end

function request()
  counter = counter + 1
  local fingerprint = string.format("%s%02x%013x", phase, thread_number, counter)
  return wrk.format(nil, nil, nil,
    '{"version":"4","status":"firing","receiver":"remediator","groupKey":"{}:{}",' ..
    '"truncatedAlerts":0,"groupLabels":{},"commonLabels":{},"commonAnnotations":{},' ..
    '"externalURL":"http://alertmanager:9093","alerts":[{"status":"firing",' ..
    '"labels":{"alertname":"BenchAlert","instance":"' .. fingerprint .. '"},' ..
    '"annotations":{},"startsAt":"2026-11-25T12:00:00Z","endsAt":"0001-01-01T00:00:00Z",' ..
    '"generatorURL":"","fingerprint":"' .. fingerprint .. '"}]}')
end

function done(summary, latency, requests)
  local errors = summary.errors
  io.write(string.format(
    'WRK {"requests": %d, "duration_us": %d, "non_2xx": %d, "socket_errors": %d, ' ..
    '"p50_us": %d, "p99_us": %d}\n',
    summary.requests, summary.duration, errors.status,
    errors.connect + errors.read + errors.write + errors.timeout,
    latency:percentile(50), latency:percentile(99)))
end
