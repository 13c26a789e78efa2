-- Buffer settings for Setlist specs: `//` comments, two-space indentation (as `setlist fmt`
-- writes them).
if vim.b.did_ftplugin then
  return
end
vim.b.did_ftplugin = 1

vim.bo.commentstring = "// %s"
vim.bo.comments = "://"
vim.bo.expandtab = true
vim.bo.shiftwidth = 2
vim.bo.softtabstop = 2
vim.bo.tabstop = 2
-- `-` is part of a name (`eu-west`), so `w`, `*` and completion treat names as one word.
vim.bo.iskeyword = "@,48-57,_,45"
vim.bo.formatoptions = vim.bo.formatoptions:gsub("t", "") .. "croql"

vim.b.undo_ftplugin = "setlocal commentstring< comments< expandtab< shiftwidth< "
  .. "softtabstop< tabstop< iskeyword< formatoptions<"
