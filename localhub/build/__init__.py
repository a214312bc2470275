"""Building environment images from Binder repositories with repo2docker.

`builder` runs builds and streams `events`; `images` names and catalogs the results; `engine` is the
repo2docker engine (`--engine localhub`) that builds with whatever `method` this machine has;
`logparse` turns build output into progress and plain-words failure reasons; `plan` shows what
repo2docker would build, offline. Nothing is imported here, so repo2docker can load the engine cheaply.
"""
