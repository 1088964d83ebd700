--[[
rt-predictor at submit time: a Slurm job_submit plugin (JobSubmitPlugins=lua;
Slurm finds this file as job_submit.lua beside slurm.conf).

For every submitted job it asks the edge, through rtp-suggest, how long the
job will run, within a hard time budget, and by policy:
  annotate  writes "rtp p50=… p90=… suggest=… model=…" into the job's
            admin_comment (or comment), nothing else;
  fill      also sets the time limit to the suggestion when the user gave none;
  lower     also lowers the time limit to the suggestion for jobs whose
            comment carries the opt-in word (default "rtp:lower");
  off       leaves every job alone without asking.
With the edge slow or down, the job is submitted unchanged and one line is
logged. The hook runs inside slurmctld, serialised with every other
submit, so the budget is a fraction of a second.

Settings below are the defaults; a file rtp_submit.conf beside this one
(lines "key = value") overrides them and is read at every submit, so a
change takes effect at once.
]]

local defaults = {
    suggest = "/usr/local/bin/rtp-suggest",
    edge = "http://127.0.0.1:50051",
    token = "",
    budget_ms = "300",
    policy = "annotate",
    field = "admin_comment",
    opt_in = "rtp:lower",
}

local here = debug.getinfo(1, "S").source:match("^@(.*/)") or "./"

local function settings()
    local s = {}
    for k, v in pairs(defaults) do
        s[k] = v
    end
    local file = io.open(here .. "rtp_submit.conf", "r")
    if file then
        for line in file:lines() do
            local key, value = line:match("^%s*([%w_]+)%s*=%s*(.-)%s*$")
            if key and defaults[key] ~= nil then
                s[key] = value
            end
        end
        file:close()
    end
    return s
end

local function quote(text)
    return "'" .. tostring(text):gsub("'", "'\\''") .. "'"
end

local function known(value, unset)
    return value ~= nil and value ~= unset and value ~= slurm.NO_VAL and value ~= slurm.NO_VAL64
end

-- The limit the job would run under: its own, else its partition's default
-- or maximum (minutes), with whether the user gave one.
local function request_minutes(job_desc, part_list)
    -- 4294967295 is INFINITE (--time=UNLIMITED): the user chose it, but
    -- the partition's limit is what the job will get.
    local unlimited = job_desc.time_limit == 4294967295
    if known(job_desc.time_limit) and not unlimited then
        return job_desc.time_limit, true
    end
    for _, part in pairs(part_list or {}) do
        local chosen = (job_desc.partition and part.name == job_desc.partition)
            or (not job_desc.partition and part.flag_default == 1)
        if chosen then
            if known(part.default_time) and part.default_time ~= 4294967295 then
                return part.default_time, unlimited
            end
            if known(part.max_time) and part.max_time ~= 4294967295 then
                return part.max_time, unlimited
            end
        end
    end
    return nil, false
end

-- gres:gpu:2 (as Slurm stores --gres) → gpu:2.
local function gres(text)
    if not text or text == "" then
        return nil
    end
    return (text:gsub("gres[:/]", ""))
end

local function arguments(s, job_desc, minutes, submit_uid)
    local args = {
        s.suggest, "--json", "--edge", s.edge, "--timeout-ms", s.budget_ms,
        "--time", minutes,
        "--user", job_desc.user_name or tostring(submit_uid),
    }
    local function add(flag, value)
        if value ~= nil and value ~= "" then
            args[#args + 1] = flag
            args[#args + 1] = value
        end
    end
    if known(job_desc.min_nodes) then add("--nodes", job_desc.min_nodes) end
    if known(job_desc.num_tasks) then add("--ntasks", job_desc.num_tasks) end
    if known(job_desc.cpus_per_task, 65534) then add("--cpus-per-task", job_desc.cpus_per_task) end
    local mem = job_desc.pn_min_memory
    if known(mem) then
        -- The top bit marks memory per CPU.
        if mem >= 2 ^ 63 then
            add("--mem-per-cpu", string.format("%.0f", mem - 2 ^ 63))
        else
            add("--mem", string.format("%.0f", mem))
        end
    end
    add("--gres", gres(job_desc.tres_per_node))
    local per_job = gres(job_desc.tres_per_job)
    if per_job then add("--gpus", (per_job:gsub("^gpu:", ""))) end
    add("--partition", job_desc.partition)
    add("--qos", job_desc.qos)
    add("--account", job_desc.account)
    add("--job-name", job_desc.name)
    add("--chdir", job_desc.work_dir)
    local quoted = {}
    for i, a in ipairs(args) do
        quoted[i] = quote(a)
    end
    -- rtp-suggest keeps its own budget; timeout(1) guards against a stuck process.
    local hard = string.format("%.3f", (tonumber(s.budget_ms) + 500) / 1000)
    local env = ""
    if s.token ~= "" then
        env = "RTP_EDGE_TOKEN=" .. quote(s.token) .. " "
    end
    return env .. "timeout -s KILL " .. hard .. " " .. table.concat(quoted, " ") .. " 2>&1"
end

local function ask(command)
    local pipe = io.popen(command, "r")
    if not pipe then
        return nil, "cannot run rtp-suggest"
    end
    local out = pipe:read("*a") or ""
    pipe:close()
    if out:sub(1, 1) ~= "{" then
        local line = out:match("[^\n]+") or "rtp-suggest gave no answer within its budget"
        return nil, line
    end
    local answer = {
        p50 = tonumber(out:match('"p50_s":([-%d%.eE+]+)')),
        p90 = tonumber(out:match('"p90_s":([-%d%.eE+]+)')),
        suggested = tonumber(out:match('"suggested_s":([-%d%.eE+]+)')),
        model = out:match('"model_version":"([^"]*)"') or "?",
    }
    if not (answer.p50 and answer.p90 and answer.suggested) then
        return nil, "rtp-suggest answered without a prediction: " .. out
    end
    return answer
end

local function clock(seconds)
    local s = math.ceil(seconds)
    local days = math.floor(s / 86400)
    s = s % 86400
    local text = string.format("%02d:%02d:%02d", math.floor(s / 3600), math.floor(s / 60) % 60, s % 60)
    if days > 0 then
        return days .. "-" .. text
    end
    return text
end

function slurm_job_submit(job_desc, part_list, submit_uid)
    local s = settings()
    if s.policy == "off" then
        return slurm.SUCCESS
    end
    local minutes, given = request_minutes(job_desc, part_list)
    if not minutes then
        slurm.log_info("rtp: job of uid %d unchanged: no time limit to predict from", submit_uid)
        return slurm.SUCCESS
    end
    local answer, problem = ask(arguments(s, job_desc, minutes, submit_uid))
    if not answer then
        slurm.log_info("rtp: job of uid %d unchanged: %s", submit_uid, problem)
        return slurm.SUCCESS
    end
    local note = string.format("rtp p50=%s p90=%s suggest=%s model=%s",
        clock(answer.p50), clock(answer.p90), clock(answer.suggested), answer.model)
    local field = (s.field == "comment") and "comment" or "admin_comment"
    local before = job_desc[field]
    if before and before ~= "" then
        job_desc[field] = before .. "; " .. note
    else
        job_desc[field] = note
    end
    local suggested_minutes = math.max(1, math.ceil(answer.suggested / 60))
    if s.policy == "fill" or s.policy == "lower" then
        if not given then
            job_desc.time_limit = suggested_minutes
        end
    end
    if s.policy == "lower" and given and suggested_minutes < minutes then
        local comment = job_desc.comment or ""
        if comment:find(s.opt_in, 1, true) then
            job_desc.time_limit = suggested_minutes
        end
    end
    return slurm.SUCCESS
end

function slurm_job_modify(job_desc, job_rec, part_list, modify_uid)
    return slurm.SUCCESS
end

return slurm.SUCCESS
