"""Building and testing a checkout: the configure/build/test commands (``runner``), the sandbox they run in
(``sandbox``), the compiler diagnostics read from their output (``diagnostics``) and the fence for what they
print before it is posted or fed back (``fence``). The fix room builds engine patches with it, the deploy
room builds merged commits; neither imports the other."""
