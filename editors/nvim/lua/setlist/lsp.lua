-- Starts the Setlist language server (`setlist lsp`, LSP over stdio) for Setlist buffers,
-- without plugins:
--
--   require("setlist.lsp").setup({
--     cmd = { "setlist", "lsp" },         -- e.g. { vim.fn.getcwd() .. "/.venv/bin/setlist", "lsp" }
--     inventory = "clusters.yaml",        -- optional, sent as initializationOptions.inventory
--   })
--
-- One client per project root: the nearest folder above the file holding `setlist.lock` or
-- `.git` (else the file's folder). Uses vim.lsp.start on Neovim 0.8+, and
-- vim.lsp.start_client + vim.lsp.buf_attach_client on 0.7.
local M = {}

M.defaults = {
  name = "setlist",
  cmd = { "setlist", "lsp" },
  root_markers = { "setlist.lock", ".git" },
  inventory = nil,
}

local options = vim.deepcopy(M.defaults)
local clients = {} -- root folder -> client id (Neovim 0.7 only)
local uv = vim.loop

local function dirname(path)
  return vim.fn.fnamemodify(path, ":h")
end

--- The nearest folder at or above the buffer's file that holds one of `markers`; the file's
--- own folder when there is none.
function M.root_dir(bufnr, markers)
  markers = markers or options.root_markers
  local name = vim.api.nvim_buf_get_name(bufnr or 0)
  local start = name ~= "" and dirname(vim.fn.fnamemodify(name, ":p")) or vim.fn.getcwd()
  local folder = start
  while true do
    for _, marker in ipairs(markers) do
      if uv.fs_stat(folder .. "/" .. marker) then
        return folder
      end
    end
    local parent = dirname(folder)
    if parent == folder then
      return start
    end
    folder = parent
  end
end

local function config(bufnr)
  local root = M.root_dir(bufnr)
  local inventory = options.inventory
  if inventory and inventory ~= "" and not inventory:match("^/") then
    inventory = root .. "/" .. inventory
  end
  return {
    name = options.name,
    cmd = options.cmd,
    root_dir = root,
    workspace_folders = { { uri = vim.uri_from_fname(root), name = root } },
    init_options = { inventory = inventory or vim.NIL },
  }
end

--- Starts (or reuses) the client of the buffer's project and attaches the buffer to it.
--- Returns the client id, or nil when the server could not be started.
function M.start(bufnr)
  bufnr = (bufnr == nil or bufnr == 0) and vim.api.nvim_get_current_buf() or bufnr
  local cfg = config(bufnr)
  if vim.lsp.start then
    return vim.lsp.start(cfg, { bufnr = bufnr })
  end
  local id = clients[cfg.root_dir]
  if not id or vim.lsp.client_is_stopped(id) then
    id = vim.lsp.start_client(cfg)
    if not id then
      return nil
    end
    clients[cfg.root_dir] = id
  end
  vim.lsp.buf_attach_client(bufnr, id)
  return id
end

--- Sets options (merged over M.defaults) and starts the server for every Setlist buffer,
--- including those already open.
function M.setup(opts)
  options = vim.tbl_deep_extend("force", vim.deepcopy(M.defaults), opts or {})
  local group = vim.api.nvim_create_augroup("setlist_lsp", { clear = true })
  vim.api.nvim_create_autocmd("FileType", {
    group = group,
    pattern = "setlist",
    callback = function(args)
      M.start(args.buf)
    end,
  })
  for _, buf in ipairs(vim.api.nvim_list_bufs()) do
    if vim.api.nvim_buf_is_loaded(buf) and vim.bo[buf].filetype == "setlist" then
      M.start(buf)
    end
  end
end

return M
