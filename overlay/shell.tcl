# The PYNQ-Z2 shell both overlay scripts build around the accelerator (sourced by vivado.tcl
# and dfx.tcl): the Vivado version pin, the Zynq PS7 and the AXI DMA, and the buses that join
# them to the accelerator's cell.
#
# Zynq PS7 configured explicitly (no board files needed): FCLK0 100 MHz, M_AXI_GP0 for control,
# S_AXI_HP0 64-bit for data.  AXI DMA in simple mode (no scatter-gather, 26-bit length register,
# 64-bit memory and stream widths) at 0x40400000; the accelerator at 0x43C00000, its program
# stream fed by MM2S and its answer going to S2MM (dfx.tcl puts a decoupler between them and the
# reconfigurable partition, and its control at 0x41200000).

# Refuse a Vivado other than the pinned one (2022.1: PYNQ 3.0 images), unless
# STREAMCNN_VIVADO_VERSION names it (2024.1 for PYNQ 3.1 images, see bitstreams/README.md).
proc shell_check_version {script} {
    set expected 2022.1
    if {[info exists ::env(STREAMCNN_VIVADO_VERSION)]} { set expected $::env(STREAMCNN_VIVADO_VERSION) }
    set found [version -short]
    if {[string first $expected $found] != 0} {
        puts stderr "$script: this overlay is pinned to Vivado $expected, found $found."
        puts stderr "Set STREAMCNN_VIVADO_VERSION=$found to build anyway (see bitstreams/README.md)."
        exit 1
    }
}

# The PS7 and the AXI DMA, in the current block design.
proc shell_ps_and_dma {} {
    set ps [create_bd_cell -type ip -vlnv xilinx.com:ip:processing_system7:5.5 processing_system7_0]
    set_property -dict [list \
        CONFIG.PCW_CRYSTAL_PERIPHERAL_FREQMHZ {50} \
        CONFIG.PCW_UIPARAM_DDR_PARTNO {MT41K256M16 RE-125} \
        CONFIG.PCW_UIPARAM_DDR_BUS_WIDTH {16 Bit} \
        CONFIG.PCW_UIPARAM_DDR_FREQ_MHZ {533.333333} \
        CONFIG.PCW_UART0_PERIPHERAL_ENABLE {1} \
        CONFIG.PCW_UART0_UART0_IO {MIO 14 .. 15} \
        CONFIG.PCW_EN_CLK0_PORT {1} \
        CONFIG.PCW_EN_RST0_PORT {1} \
        CONFIG.PCW_FPGA0_PERIPHERAL_FREQMHZ {100} \
        CONFIG.PCW_USE_M_AXI_GP0 {1} \
        CONFIG.PCW_USE_S_AXI_HP0 {1} \
        CONFIG.PCW_S_AXI_HP0_DATA_WIDTH {64} \
    ] $ps
    apply_bd_automation -rule xilinx.com:bd_rule:processing_system7 \
        -config {make_external "FIXED_IO, DDR" Master "Disable" Slave "Disable"} $ps

    set dma [create_bd_cell -type ip -vlnv xilinx.com:ip:axi_dma:7.1 axi_dma_0]
    set_property -dict [list \
        CONFIG.c_include_sg {0} \
        CONFIG.c_sg_length_width {26} \
        CONFIG.c_m_axi_mm2s_data_width {64} \
        CONFIG.c_m_axis_mm2s_tdata_width {64} \
        CONFIG.c_m_axi_s2mm_data_width {64} \
        CONFIG.c_s_axis_s2mm_tdata_width {64} \
        CONFIG.c_mm2s_burst_size {16} \
        CONFIG.c_s2mm_burst_size {16} \
    ] $dma
}

# The DMA's streams into `prog_in` and out of `resp_out`, the PS's AXI-Lite bus to the DMA and
# to each pin of `slaves`, the DMA's memory ports to HP0 (clocks and resets from FCLK0
# everywhere the automation reaches), and the addresses the driver and its tests expect: the
# DMA at 0x40400000, and each address segment at the offset of the first pattern of `addresses`
# ({pattern offset ...}) it matches, 64K each.  An offset no segment took stops the build: the
# driver would not find its registers.
proc shell_connect {prog_in resp_out slaves addresses} {
    connect_bd_intf_net [get_bd_intf_pins axi_dma_0/M_AXIS_MM2S] [get_bd_intf_pins $prog_in]
    connect_bd_intf_net [get_bd_intf_pins $resp_out] [get_bd_intf_pins axi_dma_0/S_AXIS_S2MM]
    foreach slave [concat axi_dma_0/S_AXI_LITE $slaves] {
        apply_bd_automation -rule xilinx.com:bd_rule:axi4 \
            -config {Master "/processing_system7_0/M_AXI_GP0" Clk_master "Auto" Clk_slave "Auto" Clk_xbar "Auto"} \
            [get_bd_intf_pins $slave]
    }
    foreach master {axi_dma_0/M_AXI_MM2S axi_dma_0/M_AXI_S2MM} {
        apply_bd_automation -rule xilinx.com:bd_rule:axi4 \
            -config {Slave "/processing_system7_0/S_AXI_HP0" Clk_master "Auto" Clk_slave "Auto" Clk_xbar "Auto"} \
            [get_bd_intf_pins $master]
    }
    assign_bd_address
    set addresses [concat {*axi_dma_0*} 0x40400000 $addresses]
    array set placed {}
    foreach seg [get_bd_addr_segs -of_objects [get_bd_addr_spaces processing_system7_0/Data]] {
        foreach {pattern offset} $addresses {
            if {[string match $pattern $seg]} {
                set_property offset $offset $seg
                set_property range 64K $seg
                set placed($offset) $seg
                break
            }
        }
    }
    foreach {pattern offset} $addresses {
        if {![info exists placed($offset)]} {
            puts stderr "shell.tcl: no address segment of the PS matches $pattern (for $offset); the block design's\
                segments: [get_bd_addr_segs -of_objects [get_bd_addr_spaces processing_system7_0/Data]]"
            exit 1
        }
    }
}

# Clock and reset every clock and reset pin of `cells` that the bus automation left unconnected
# (a block design container's, whose pins the automation does not see through): FCLK0 and the
# peripheral reset of the automation's proc_sys_reset.
proc shell_clock {cells} {
    set reset [get_bd_cells -filter {VLNV =~ "xilinx.com:ip:proc_sys_reset:*"}]
    foreach cell $cells {
        foreach {type source} [list clk processing_system7_0/FCLK_CLK0 rst $reset/peripheral_aresetn] {
            foreach pin [get_bd_pins -quiet -of_objects [get_bd_cells $cell] -filter "TYPE == $type"] {
                if {[llength [get_bd_nets -quiet -of_objects $pin]] == 0} {
                    connect_bd_net [get_bd_pins $source] $pin
                }
            }
        }
    }
}

# Validate the block design `bd` of the project in `dir`, save it, and make its HDL wrapper the
# top of the design.
proc shell_finish {dir bd} {
    validate_bd_design
    save_bd_design
    make_wrapper -files [get_files [file join $dir $bd.srcs sources_1 bd $bd $bd.bd]] -top
    add_files -norecurse [file join $dir $bd.gen sources_1 bd $bd hdl ${bd}_wrapper.v]
    set_property top ${bd}_wrapper [current_fileset]
    update_compile_order -fileset sources_1
}
