"""Code that runs inside function interpreters (the zygote and the environments it forks).

Standard library only, Python 3.9 compatible: these files run under whichever interpreter a
function's runtime maps to, not under the server's. The zygote is started as a script from this
directory, so the modules import each other as top-level names (`import frames`); the server
imports them as `lambdad.runtime.guest.frames`.
"""
