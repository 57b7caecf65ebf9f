"""The tools that use a trained generator, each a module with a Python API and a command (main):
generate (images for seeds or saved ws), style_mixing (the papers' mixing grids), interpolate (latent walks as
videos), edit (latent directions and edits along them) and project (a real image into W). command_line holds what
their commands share; video writes MP4/GIF. Run them as `stylegan generate` (style-mixing, interpolate, edit, project)
or `python -m stylegan.generate` (style_mixing, ...)."""
