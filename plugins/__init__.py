"""dagmill's built-in plugins, each one module registered through the ``dagmill`` entry-point group."""
