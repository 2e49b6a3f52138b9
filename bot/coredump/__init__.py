"""Linux core files: recognise an ELF core, read what its notes say, and turn it into a gdb crash log."""
