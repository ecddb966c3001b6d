"""Writes an x86-64 assembly file of N functions, each running the compiler's function hooks as
-finstrument-functions code does (enter, then exit, with its own address and its return
address), and a table of them: 100,000 distinct instrumented functions in a second of assembling
instead of a minute of compiling. Usage: generate.py N OUT.S"""
import sys

n, out = int(sys.argv[1]), sys.argv[2]
with open(out, "w") as f:
    f.write("\t.text\n")
    for i in range(n):
        name = "many_functions_%d" % i
        f.write(
            "\t.globl {0}\n\t.type {0},@function\n{0}:\n"
            "\tpush %rbx\n"  # 16-byte stack alignment for the calls.
            "\tleaq {0}(%rip), %rdi\n\tmovq 8(%rsp), %rsi\n"
            "\tcall __cyg_profile_func_enter@PLT\n"
            "\tleaq {0}(%rip), %rdi\n\tmovq 8(%rsp), %rsi\n"
            "\tcall __cyg_profile_func_exit@PLT\n"
            "\tpop %rbx\n\tret\n"
            "\t.size {0}, .-{0}\n".format(name))
    f.write("\t.section .data.rel.ro,\"aw\"\n\t.balign 8\n"
            "\t.globl many_functions_table\nmany_functions_table:\n")
    for i in range(n):
        f.write("\t.quad many_functions_%d\n" % i)
    f.write("\t.globl many_functions_count\n\t.balign 8\nmany_functions_count:\n"
            "\t.quad %d\n" % n)
    f.write("\t.section .note.GNU-stack,\"\",@progbits\n")
