// libteeinfer.so (the installed package) is the static layers linked whole: common,
// enclave, tee, host and api. CMake needs a source of its own for the target; this is it.
