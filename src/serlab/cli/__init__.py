"""The commands: `commands` holds the console scripts and how they report errors; each other module here
is one command's task (serlab-train, -eval, -cv, -compare, -predict, -export, -pretrain). The library outside this
package imports none of them."""
