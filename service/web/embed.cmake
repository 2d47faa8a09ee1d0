# Embeds the page (service/web/) into vpointd at configure time, the way cache/CMakeLists.txt embeds
# cache/lua/vpoint.lua: index.html names its style sheet and scripts as ordinary same-origin links
#   <link rel="stylesheet" href="app.css">   <script src="app.js"></script>
# and each is replaced by the file's text inline. The Content-Security-Policy then allows exactly those inline
# blocks by their SHA-256 (CSP Level 2 §4.2.4), computed here: the served page and its hashes come from the same
# bytes, and an edit to any file re-runs the configure step.

# CSP hash-source: base64 of the SHA-256 digest. CMake gives the digest in hex, so this re-encodes it
# (3 bytes = 6 hex digits = 4 base64 characters at a time; the last group is padded with '=').
function(vpoint_sha256_base64 text out)
  string(SHA256 hex "${text}")
  set(alphabet "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/")
  string(LENGTH "${hex}" length)
  set(result "")
  set(i 0)
  while(i LESS length)
    math(EXPR left "${length} - ${i}")
    if(left GREATER_EQUAL 6)
      string(SUBSTRING "${hex}" ${i} 6 group)
      set(pad 0)
    else()
      string(SUBSTRING "${hex}" ${i} ${left} group)
      math(EXPR pad "(6 - ${left}) / 2")
      foreach(_ RANGE 1 ${pad})
        string(APPEND group "00")
      endforeach()
    endif()
    math(EXPR value "0x${group}")
    foreach(shift 18 12 6 0)
      math(EXPR index "(${value} >> ${shift}) & 63")
      string(SUBSTRING "${alphabet}" ${index} 1 char)
      string(APPEND result "${char}")
    endforeach()
    math(EXPR i "${i} + 6")
  endwhile()
  if(pad GREATER 0)  # the last group's `pad` zero bytes become '=' characters
    string(LENGTH "${result}" have)
    math(EXPR keep "${have} - ${pad}")
    string(SUBSTRING "${result}" 0 ${keep} result)
    foreach(_ RANGE 1 ${pad})
      string(APPEND result "=")
    endforeach()
  endif()
  set(${out} "${result}" PARENT_SCOPE)
endfunction()

# Replaces, in the variable `html_var`, every tag matching `pattern` whose `attribute` names a file in `dir` by
# <`tag`>the file's text</`tag`>, and appends the CSP hash-source of each text to the variable `hashes_var`.
function(vpoint_inline_links html_var pattern attribute tag dir hashes_var)
  set(html "${${html_var}}")
  set(hashes "")
  string(REGEX MATCHALL "${pattern}" links "${html}")
  foreach(link IN LISTS links)
    string(REGEX REPLACE ".*${attribute}=\"([^\"]+)\".*" "\\1" name "${link}")
    set_property(DIRECTORY APPEND PROPERTY CMAKE_CONFIGURE_DEPENDS ${dir}/${name})
    file(READ ${dir}/${name} text)
    vpoint_sha256_base64("${text}" hash)
    string(APPEND hashes " 'sha256-${hash}'")
    string(REPLACE "${link}" "<${tag}>${text}</${tag}>" html "${html}")
  endforeach()
  set(${html_var} "${html}" PARENT_SCOPE)
  set(${hashes_var} "${hashes}" PARENT_SCOPE)
endfunction()

# Writes `header` (namespace vpoint::service::web: kPageHtml, kPageCsp) from `dir`/index.html and the files it
# links. Fails the configure step when a linked file is missing or would end the raw string literal early.
function(vpoint_embed_page dir header)
  set(delimiter "vpointweb")
  set_property(DIRECTORY APPEND PROPERTY CMAKE_CONFIGURE_DEPENDS ${dir}/index.html)
  file(READ ${dir}/index.html html)
  vpoint_inline_links(html "<link rel=\"stylesheet\" href=\"[a-z0-9_-]+\\.css\">" "href" style ${dir} style_hashes)
  vpoint_inline_links(html "<script src=\"[a-z0-9_-]+\\.js\"></script>" "src" script ${dir} script_hashes)
  if(NOT style_hashes OR NOT script_hashes)
    message(FATAL_ERROR "${dir}/index.html links no style sheet or no script")
  endif()
  string(FIND "${html}" ")${delimiter}\"" clash)
  if(NOT clash EQUAL -1)
    message(FATAL_ERROR "${dir}: the text ')${delimiter}\"' would end the embedded page early")
  endif()
  # Everything the page needs is inline or same-origin; `connect-src 'self'` keeps the key from leaving.
  set(csp "default-src 'none'; script-src${script_hashes}; style-src${style_hashes}; connect-src 'self'; img-src 'self' data: blob:; form-action 'none'; base-uri 'none'; frame-ancestors 'none'")
  file(CONFIGURE OUTPUT ${header}
    CONTENT "#pragma once\n// Generated from service/web/ by service/web/embed.cmake. Do not edit.\nnamespace vpoint::service::web {\ninline constexpr const char kPageHtml[] = R\"${delimiter}(@html@)${delimiter}\";\ninline constexpr const char kPageCsp[] = \"@csp@\";\n}\n"
    @ONLY)
endfunction()
