"""The offline workshop: environments carried on a USB stick, shared over the room's LAN, material handed
out and work handed in, with no internet.

    bundles     manifest (what a bundle holds, a hash per part), bundlefile (the file: read, write, check),
                create, importer, repos (repository content), installer (localhub itself on the stick)
    engine      layers (images out of and into the engine, only missing layers), blobs (compressed layers
                kept by hash)
    launches    offline (links this machine can launch with no network), resolver (what the launcher asks
                before the network)
    homes       merge (a newer copy into a folder someone works in, by nbgitpuller's rules, never losing an
                edit; also used by `localhub servers sync`)
    progress    bytes and rates of a transfer, drawn by the CLI, the TUI and the launch page
"""
