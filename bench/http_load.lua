-- wrk script of bench.http_load: each request is the next line of $BENCH_REQUESTS (path, form
-- body, X-Twilio-Signature, tab-separated). The $BENCH_THREADS threads take interleaved lines,
-- so no line is sent twice until all are used; a line sent again is counted as reused.
local lines = {}
for line in io.lines(os.getenv("BENCH_REQUESTS")) do
  local path, body, signature = line:match("^([^\t]*)\t([^\t]*)\t([^\t]*)$")
  lines[#lines + 1] = {path, body, signature}
end
local step = tonumber(os.getenv("BENCH_THREADS"))
local threads = {}

function setup(thread)
  thread:set("offset", #threads)
  threads[#threads + 1] = thread
end

function init(args)
  position = offset + 1
  reused = 0
end

function request()
  local index = position
  position = position + step
  if index > #lines then
    reused = reused + 1
    index = (index - 1) % #lines + 1
  end
  local entry = lines[index]
  return wrk.format("POST", entry[1], {
    ["Content-Type"] = "application/x-www-form-urlencoded",
    ["X-Twilio-Signature"] = entry[3],
  }, entry[2])
end

function done(summary, latency, requests)
  local reused_total = 0
  for _, thread in ipairs(threads) do
    reused_total = reused_total + thread:get("reused")
  end
  local errors = summary.errors
  io.write(string.format(
    'BENCH {"requests": %d, "duration_us": %d, "non_2xx": %d, "socket_errors": %d, ' ..
    '"reused": %d}\n',
    summary.requests, summary.duration, errors.status,
    errors.connect + errors.read + errors.write + errors.timeout, reused_total))
end
