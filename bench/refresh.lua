-- wrk script: the refresh_token grant with rotation. Every refresh spends its token and
-- returns the next one, so each request must carry a token no other request holds.
-- A pool of tokens (one per line in REFRESH_TOKENS_FILE, made by password logins) is handed
-- out by request(); response() puts the rotated token back. Keep the pool larger than the
-- connection count: an in-flight request holds one token.
-- Env: CLIENT_ID, CLIENT_SECRET (HTTP Basic), REFRESH_TOKENS_FILE, WRK_LABEL.
-- The headers (Basic auth, Content-Type, Accept) and done()'s RESULT line come from
-- post-form-basic.lua, loaded first; this file replaces its static request.

local here = debug.getinfo(1, 'S').source:match('^@(.*)/') or '.'
dofile(here .. '/peer/post-form-basic.lua')

local pool = {}
local starved = 0

function init(args)
  local f = assert(io.open(os.getenv('REFRESH_TOKENS_FILE'), 'r'))
  for line in f:lines() do
    if #line > 0 then pool[#pool + 1] = line end
  end
  f:close()
end

function request()
  local t = table.remove(pool)
  if t == nil then
    -- Pool exhausted (a failed refresh lost its token): send a request that fails cleanly
    -- (counted as non-2xx) rather than reusing a spent token, which would revoke its family.
    starved = starved + 1
    t = 'exhausted'
  end
  return wrk.format('POST', nil, nil, 'grant_type=refresh_token&refresh_token=' .. t)
end

function response(status, hdrs, body)
  local t = body and body:match('"refresh_token":"([^"]+)"')
  if t then pool[#pool + 1] = t end
end
