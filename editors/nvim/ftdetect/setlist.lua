-- Filetype detection for Setlist specs (*.setlist).
if vim.filetype and vim.filetype.add then
  vim.filetype.add({ extension = { setlist = "setlist" } })
end
-- Neovim 0.7 consults vim.filetype only with `g:do_filetype_lua`; an autocommand covers it
-- (ftdetect scripts run inside the filetypedetect group; `setfiletype` never overrides).
if vim.fn.has("nvim-0.8") == 0 then
  vim.api.nvim_create_autocmd({ "BufRead", "BufNewFile" }, {
    pattern = "*.setlist",
    command = "setfiletype setlist",
  })
end
