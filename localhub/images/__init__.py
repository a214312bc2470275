"""Environment images: built from Binder repositories with repo2docker, named, catalogued and removed.

`builder` runs builds and streams `events`, each build a repo2docker process (`build_process` starts, reads
and stops it; `build_child` is the process itself); `catalog` names and lists the results; `repo2docker_engine`
is the repo2docker engine plugin (`--engine localhub`) that builds with whatever `method` this machine has;
`logparse` turns build output into progress and plain-words failure reasons; `plan` shows what
repo2docker would build, offline. Nothing is imported here, so repo2docker can load the engine cheaply.
"""
