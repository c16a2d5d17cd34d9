"""The window's widgets: views, panels and dialogs. They read through the controller and never hold the core's session."""
