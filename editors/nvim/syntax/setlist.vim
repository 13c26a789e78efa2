" Vim syntax file for Setlist specs (*.setlist), after grammar/setlist.lark.
" The VS Code extension's TextMate grammar (editors/vscode/syntaxes) is the fuller one.
if exists('b:current_syntax')
  finish
endif
let s:cpo_save = &cpo
set cpo&vim

" Names may contain '-' (eu-west): keywords and \< \> must see them as one word.
syn iskeyword @,48-57,_,45
syn case match

syn keyword setlistDeclaration import const gitops registry image environment app promotion
syn keyword setlistDeclaration policy use waive
syn keyword setlistKeyword as for in where require deny after until because freeze tz
syn keyword setlistOperatorWord not and or exists
syn keyword setlistBoolean true false
syn keyword setlistNone none
" Built-in functions and names, but not after '.' (`cluster.env`, `d.image.digest`).
syn match setlistBuiltin /\.\@<!\<\%(semver\|digest\|env\|in_cluster\|automated\|manual\|retry\|git\|approval\|signed\|newest_build\|alphabetical\|docker_config\|anonymous\|direct\|pull_request\|all\|rest\|argocd\)\>/
syn keyword setlistCluster cluster

" The name after a declaration keyword, and a field's name before '='.
syn match setlistDeclName /\%(\<\%(registry\|image\|environment\|app\|promotion\|policy\|const\)\s\+\)\@<=\h[[:alnum:]_-]*/
syn match setlistField /\<\h[[:alnum:]_-]*\ze\s*=[=~]\@!/

syn match setlistComment +//.*$+ contains=@Spell
syn region setlistString start=+"+ skip=+\\\\\|\\"+ end=+"\|$+ oneline
      \ contains=setlistEscape,setlistInterpolation
syn match setlistEscape contained +\\\%(["\\nrt$/]\|u{\x\{1,6}}\)+
syn region setlistInterpolation contained oneline matchgroup=setlistInterpolationDelim
      \ start=+\${+ end=+}+

syn match setlistJoin +/\%(/\)\@!+
" A regular expression only where an expression starts; elsewhere '/' joins a registry and
" a path (ghcr / "org/api"). Defined after setlistJoin: the last match defined wins.
syn match setlistRegex +\%(\%([=<>(\[,:]\|=\~\|!\~\|\<\%(and\|or\|not\|in\|where\|require\|deny\)\)\s*\|^\s*\)\@<=/\%([^/\\]\|\\.\)\+/+
      \ contains=setlistRegexEscape
syn match setlistRegexEscape contained +\\.+

syn match setlistDate /\<\d\{4}-\d\d-\d\d\%(T\d\d:\d\d\%(:\d\d\)\=\%(Z\|[+-]\d\d:\d\d\)\=\)\=/
syn match setlistDuration /\<\%(\d\+[wdhms]\)\+\>/
syn match setlistNumber /\<\d\+\>/
syn match setlistOperator +==\|!=\|<=\|>=\|<-\|=\~\|!\~\|[<>=]+

hi def link setlistDeclaration Keyword
hi def link setlistKeyword Keyword
hi def link setlistOperatorWord Operator
hi def link setlistBoolean Boolean
hi def link setlistNone Constant
hi def link setlistBuiltin Function
hi def link setlistCluster Special
hi def link setlistDeclName Identifier
hi def link setlistField Type
hi def link setlistComment Comment
hi def link setlistString String
hi def link setlistEscape SpecialChar
hi def link setlistInterpolationDelim Delimiter
hi def link setlistInterpolation Identifier
hi def link setlistRegex String
hi def link setlistRegexEscape SpecialChar
hi def link setlistDate Number
hi def link setlistDuration Number
hi def link setlistNumber Number
hi def link setlistOperator Operator
hi def link setlistJoin Operator

let b:current_syntax = 'setlist'
let &cpo = s:cpo_save
unlet s:cpo_save
